from django.urls import path

from notifications.account import views

app_name = "account"

urlpatterns = [
    path("", views.account, name="account"),
    path("devices/<str:kind>/<int:device_id>/remove", views.device_remove, name="device_remove"),
    path("verify-email/<str:token>", views.verify_email, name="verify_email"),
]

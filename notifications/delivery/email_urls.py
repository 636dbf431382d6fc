from django.urls import path

from notifications.delivery import views

app_name = "email"

urlpatterns = [
    path("unsubscribe/<str:token>", views.email_unsubscribe, name="unsubscribe"),
    path("click/<str:token>", views.email_click, name="click"),
]

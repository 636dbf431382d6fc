from django.urls import path

from notifications.delivery import views

app_name = "push"

urlpatterns = [
    path("subscribe", views.push_subscribe, name="subscribe"),
    path("unsubscribe", views.push_unsubscribe, name="unsubscribe"),
    path("clicked/<str:token>", views.push_clicked, name="clicked"),
]

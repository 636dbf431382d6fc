from django.urls import path

from events import views

app_name = "events"

urlpatterns = [
    path("", views.event_list, name="list"),
    path("new/", views.event_create, name="create"),
    path("<int:event_id>/", views.event_detail, name="detail"),
    path("<int:event_id>/edit/", views.event_edit, name="edit"),
    path("<int:event_id>/cancel/", views.event_cancel, name="cancel"),
    path("<int:event_id>/registrations/", views.event_registrations, name="registrations"),
    path("<int:event_id>/register/", views.event_register, name="register"),
    path("<int:event_id>/leave/", views.event_leave, name="leave"),
    path("<int:event_id>/follow/", views.event_follow, name="follow"),
    path("<int:event_id>/unfollow/", views.event_unfollow, name="unfollow"),
]

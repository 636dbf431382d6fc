from django.urls import path

from notifications import views

app_name = "notifications"

urlpatterns = [
    path("", views.center, name="center"),
    path("dropdown/", views.dropdown, name="dropdown"),
    path("badge/", views.badge, name="badge"),
    path("seen/", views.record_seen, name="record_seen"),
    path("read-all/", views.mark_all_read, name="mark_all_read"),
    path("clear-all/", views.clear_all, name="clear_all"),
    path("clear-all/undo/", views.undo_clear, name="undo_clear"),
    path("<int:notification_id>/read/", views.mark_read, name="mark_read"),
    path("<int:notification_id>/unread/", views.mark_unread, name="mark_unread"),
    path("<int:notification_id>/dismiss/", views.dismiss, name="dismiss"),
    path("<int:notification_id>/open/", views.open_notification, name="open"),
    path("preferences/", views.preferences, name="preferences"),
    path("subscriptions/unfollow/", views.unfollow, name="unfollow"),
]

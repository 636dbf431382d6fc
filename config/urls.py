from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from config import health, views
from events import views as events_views
from notifications import views as notifications_views
from notifications.api import api as notifications_api
from operations import views as operations_views

urlpatterns = [
    path("", events_views.home, name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/signup/", views.signup, name="signup"),
    # The Operations section of the admin opens the operations page (its models are linked there).
    path("admin/operations/", operations_views.dashboard_view, name="operations-dashboard"),
    path("admin/", admin.site.urls),
    path("api/v1/", notifications_api.urls),
    path("graphql/", include("graphql_api.urls")),
    path("notifications/push/", include("notifications.delivery.urls")),
    path("notifications/email/", include("notifications.delivery.email_urls")),
    path("notifications/", include("notifications.urls")),
    path("account/", include("notifications.account.urls")),
    path("manifest.webmanifest", views.web_manifest, name="web-manifest"),
    path("sw.js", notifications_views.service_worker, name="service-worker"),
    path("events/", include("events.urls")),
    path("leaderboard/", include("leaderboard.urls")),
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    path("health/status", operations_views.status_view, name="health-status"),
    path("metrics", operations_views.metrics_view, name="metrics"),
]

# An unreachable database answers 503, not 500 (config/views.py).
handler500 = "config.views.server_error"

from django.apps import AppConfig


class DeliveryConfig(AppConfig):
    """Email, web push, SMS and mobile push of the notifications' rows (models in
    ``notifications.models``). An app of its own so Django's admin and Celery's autodiscovery
    find its ``admin.py`` and ``tasks.py`` without imports made only for their side effects."""

    name = "notifications.delivery"
    label = "notifications_delivery"
    verbose_name = "Notification delivery"

from django.apps import AppConfig


class OperationsConfig(AppConfig):
    name = "operations"
    verbose_name = "Operations"

    def ready(self):
        from operations import metrics, signals  # noqa: F401  (connects the Celery signals)

        metrics.process_started()

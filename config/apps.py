from django.apps import AppConfig


class HeraldConfig(AppConfig):
    name = "config"
    label = "config"

    def ready(self):
        from config import signals  # noqa: F401  (connects the receivers)

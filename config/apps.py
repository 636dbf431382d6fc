from django.apps import AppConfig


class HeraldConfig(AppConfig):
    name = "config"
    label = "config"

    def ready(self):
        from config import signals  # noqa: F401  (connects the receivers)
        from config.celery import app

        # Every app's tasks.py, registered in every process (the worker, web, beat, manage.py):
        # services queue tasks by name (config.celery.enqueue) and never import tasks.py.
        app.autodiscover_tasks(force=True)

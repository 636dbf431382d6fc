"""Beat entry of the operations app: the alert check every minute."""

from django.db import migrations

ALERTS_NAME = "operations: check alerts"
ALERTS_TASK = "operations.tasks.check_alerts"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute = IntervalSchedule.objects.filter(every=1, period="minutes").first()
    if every_minute is None:
        every_minute = IntervalSchedule.objects.create(every=1, period="minutes")
    PeriodicTask.objects.update_or_create(
        name=ALERTS_NAME,
        defaults={"task": ALERTS_TASK, "interval": every_minute, "crontab": None,
                  # On the urgent queue: a backed-up default queue must not delay its own alarm.
                  "enabled": True, "queue": "urgent"},
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name=ALERTS_NAME
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("operations", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]

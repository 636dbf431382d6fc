"""Beat entries of the notifications app: the nightly purge and the every-minute sweep of due
deliveries (deferred by quiet hours, waiting for a retry, or orphaned by a crashed worker)."""

from django.db import migrations

PURGE_NAME = "notifications: nightly purge of old notifications"
PURGE_TASK = "notifications.tasks.purge_notifications"
SWEEP_NAME = "notifications: re-enqueue due deliveries"
SWEEP_TASK = "notifications.delivery.enqueue_due_deliveries"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute = IntervalSchedule.objects.filter(every=1, period="minutes").first()
    if every_minute is None:
        every_minute = IntervalSchedule.objects.create(every=1, period="minutes")
    # 03:17 UTC: a quiet hour for most users, off the round minute other jobs pick.
    nightly, _ = CrontabSchedule.objects.get_or_create(
        minute="17", hour="3", day_of_week="*", day_of_month="*", month_of_year="*",
        timezone="UTC",
    )
    PeriodicTask.objects.update_or_create(
        name=PURGE_NAME, defaults={"task": PURGE_TASK, "crontab": nightly, "interval": None,
                                   "enabled": True},
    )
    PeriodicTask.objects.update_or_create(
        name=SWEEP_NAME, defaults={"task": SWEEP_TASK, "interval": every_minute, "crontab": None,
                                   "enabled": True},
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name__in=[PURGE_NAME, SWEEP_NAME]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]

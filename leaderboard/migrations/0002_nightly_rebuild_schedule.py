"""Schedule the nightly rebuild of the leaderboard's sorted set (editable in the admin)."""

from django.db import migrations

TASK_NAME = "Leaderboard: nightly sorted set rebuild"


def schedule(apps, schema_editor):
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    crontab, _ = CrontabSchedule.objects.get_or_create(
        minute="15", hour="3", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    PeriodicTask.objects.update_or_create(
        name=TASK_NAME,
        defaults={
            "task": "leaderboard.tasks.leaderboard_rebuild",
            "crontab": crontab,
            "queue": "bulk",
            "enabled": True,
            "description": "Rebuild the Redis sorted set from the leaderboard table and log drift.",
        },
    )


def unschedule(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=TASK_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("leaderboard", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(schedule, unschedule)]

"""The "Organizers" group (may create events) and the beat entry that sends reminders."""

from django.db import migrations

ORGANIZERS = "Organizers"
REMINDER_TASK_NAME = "events: send due reminders"
REMINDER_TASK = "events.send_due_reminders"


def create_group_and_schedule(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # Permissions are normally made after migrate; make add_event exist now.
    events_config = apps.get_app_config("events")
    events_config.models_module = True
    create_permissions(events_config, apps=apps, verbosity=0)
    events_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=ORGANIZERS)
    group.permissions.add(
        Permission.objects.get(content_type__app_label="events", codename="add_event")
    )

    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.update_or_create(
        name=REMINDER_TASK_NAME,
        defaults={"task": REMINDER_TASK, "interval": every_minute, "enabled": True},
    )


def remove_group_and_schedule(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=ORGANIZERS).delete()
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(
        name=REMINDER_TASK_NAME
    ).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_group_and_schedule, remove_group_and_schedule)]

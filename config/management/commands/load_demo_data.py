"""Load the demo data: idempotent, so ``make run`` can call it on every start."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils.module_loading import import_string

DEMO_PASSWORD = "herald-demo"
DEMO_USERS = [
    # username, is_staff/superuser, description
    ("admin", True, "administrator (Django admin at /admin/)"),
    ("organizer", False, "organizer of the demo events"),
    ("alice", False, "attendee"),
    ("bob", False, "attendee"),
]
# Each domain app contributes its own demo content through ``<app>.demo.load(users=...)``.
DEMO_LOADERS = ["events.demo.load", "leaderboard.demo.load"]


def ensure_demo_users() -> dict:
    User = get_user_model()
    users = {}
    for username, is_admin, _ in DEMO_USERS:
        user, created = User.objects.get_or_create(
            username=username,
            defaults={"email": f"{username}@example.com", "is_staff": is_admin, "is_superuser": is_admin},
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        users[username] = user
    return users


class Command(BaseCommand):
    help = "Create the demo users, events and game (safe to run again)."

    def handle(self, *args, **options):
        with transaction.atomic():
            users = ensure_demo_users()
            notes = []
            for dotted in DEMO_LOADERS:
                try:
                    loader = import_string(dotted)
                except ImportError:
                    continue
                notes.extend(loader(users=users) or [])
        self.stdout.write("Demo logins (password for all: %s):" % DEMO_PASSWORD)
        for username, _, description in DEMO_USERS:
            self.stdout.write(f"  {username:<10} {description}")
        for note in notes:
            self.stdout.write(f"  {note}")

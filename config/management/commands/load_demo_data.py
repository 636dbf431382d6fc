"""Load the demo data: idempotent, so ``make run`` can call it on every start."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils.module_loading import import_string

from notifications.account.services import email_mark_verified

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


def demo_users(*, superuser: bool) -> list[tuple[str, bool, str]]:
    return [row for row in DEMO_USERS if superuser or not row[1]]


def ensure_demo_users(*, superuser: bool = True) -> dict:
    User = get_user_model()
    users = {}
    for username, is_admin, _ in demo_users(superuser=superuser):
        user, created = User.objects.get_or_create(
            username=username,
            defaults={"email": f"{username}@example.com", "is_staff": is_admin, "is_superuser": is_admin},
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        # Demo addresses need no confirmation link: their email goes to the console.
        email_mark_verified(user=user)
        users[username] = user
    return users


class Command(BaseCommand):
    help = "Create the demo users, events and game (safe to run again)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--superuser",
            action="store_true",
            default=None,
            help="Also create the superuser `admin` (done by default in embedded mode only: a "
            "known password on a services-mode database is a way in).",
        )

    def handle(self, *args, superuser=None, **options):
        if superuser is None:
            superuser = settings.EMBEDDED_MODE
        with transaction.atomic():
            users = ensure_demo_users(superuser=superuser)
            notes = []
            for dotted in DEMO_LOADERS:
                try:
                    loader = import_string(dotted)
                except ImportError:
                    continue
                notes.extend(loader(users=users) or [])
        self.stdout.write("Demo logins (password for all: %s):" % DEMO_PASSWORD)
        for username, _, description in demo_users(superuser=superuser):
            self.stdout.write(f"  {username:<10} {description}")
        for note in notes:
            self.stdout.write(f"  {note}")

from django.core.management.base import BaseCommand

from notifications.api.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key for another service; the key is printed once and never stored."

    def add_arguments(self, parser):
        parser.add_argument("name", help="Who uses the key, e.g. billing-service")
        parser.add_argument(
            "--kind", action="append", dest="kinds", default=[],
            help="A kind the key may send (repeat for more); none: every public kind.",
        )
        parser.add_argument(
            "--allow-urgent", action="store_true", help="The key may send urgent notifications."
        )
        parser.add_argument(
            "--group", action="append", dest="groups", default=[],
            help="Only members of this group may be notified (repeat for more).",
        )

    def handle(self, *args, name: str, kinds, allow_urgent, groups, **options):
        from django.contrib.auth.models import Group
        from django.core.management.base import CommandError

        from notifications.kinds import KINDS

        unknown = [kind for kind in kinds if kind not in KINDS or KINDS[kind].internal]
        if unknown:
            raise CommandError(f"Unknown kinds: {', '.join(unknown)}")
        group_rows = list(Group.objects.filter(name__in=groups))
        if len(group_rows) != len(set(groups)):
            raise CommandError("Unknown groups: " + ", ".join(
                sorted(set(groups) - {group.name for group in group_rows})))
        api_key, raw_key = api_key_create(
            name=name, kinds=kinds, allow_urgent=allow_urgent, recipient_groups=group_rows
        )
        self.stderr.write(
            f"API key {api_key.prefix}… for {api_key.name!r} (copy it now, it is not shown again):"
        )
        self.stdout.write(raw_key)

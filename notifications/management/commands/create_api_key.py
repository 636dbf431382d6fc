from django.core.management.base import BaseCommand

from notifications.api.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key for another service; the key is printed once and never stored."

    def add_arguments(self, parser):
        parser.add_argument("name", help="Who uses the key, e.g. billing-service")

    def handle(self, *args, name: str, **options):
        api_key, raw_key = api_key_create(name=name)
        self.stderr.write(
            f"API key {api_key.prefix}… for {api_key.name!r} (copy it now, it is not shown again):"
        )
        self.stdout.write(raw_key)

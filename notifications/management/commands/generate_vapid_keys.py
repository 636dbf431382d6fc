from django.core.management.base import BaseCommand

from notifications.delivery.vapid import generate_pair


class Command(BaseCommand):
    help = "Print a new VAPID key pair for web push, as environment lines to keep secret."

    def handle(self, *args, **options):
        public, private = generate_pair()
        self.stdout.write(f"VAPID_PUBLIC_KEY={public}")
        self.stdout.write(f"VAPID_PRIVATE_KEY={private}")
        self.stderr.write(
            "Set both (and VAPID_SUBJECT=mailto:you@example.com) in the environment. Changing the "
            "pair later invalidates every browser's push subscription."
        )

from cryptography.hazmat.primitives import serialization
from django.core.management.base import BaseCommand
from py_vapid import Vapid, b64urlencode


class Command(BaseCommand):
    help = "Print a new VAPID key pair for web push, as environment lines to keep secret."

    def handle(self, *args, **options):
        key = Vapid()
        key.generate_keys()
        private = key.private_key.private_numbers().private_value.to_bytes(32, "big")
        public = key.public_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        self.stdout.write(f"VAPID_PUBLIC_KEY={b64urlencode(public)}")
        self.stdout.write(f"VAPID_PRIVATE_KEY={b64urlencode(private)}")
        self.stderr.write(
            "Set both (and VAPID_SUBJECT=mailto:you@example.com) in the environment. Changing the "
            "pair later invalidates every browser's push subscription."
        )

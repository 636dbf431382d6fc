from django.core.management.base import BaseCommand

from leaderboard.services import ranking_rebuild


class Command(BaseCommand):
    help = "Rebuild the leaderboard's Redis sorted set from the table and report any drift."

    def handle(self, *args, **options):
        report = ranking_rebuild()
        drift = report["missing"] + report["wrong"] + report["extra"]
        self.stdout.write(
            "Leaderboard rebuilt: {entries} entries; drift repaired: {missing} missing, "
            "{wrong} wrong, {extra} extra.".format(**report)
        )
        if drift:
            self.stdout.write(self.style.WARNING(f"The sorted set had drifted by {drift} members."))
        else:
            self.stdout.write(self.style.SUCCESS("No drift."))

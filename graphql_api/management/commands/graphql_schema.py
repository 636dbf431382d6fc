from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

SCHEMA_FILE = Path(settings.BASE_DIR) / "docs" / "graphql.schema.graphql"


def schema_sdl() -> str:
    from graphql_api.schema import schema

    return schema.as_str() + "\n"


class Command(BaseCommand):
    help = "Write the GraphQL schema (SDL) to docs/graphql.schema.graphql, or --check it."

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true",
                            help="Exit 1 when the file differs from the code.")

    def handle(self, *args, check=False, **options):
        sdl = schema_sdl()
        if check:
            if not SCHEMA_FILE.exists() or SCHEMA_FILE.read_text() != sdl:
                self.stderr.write(f"{SCHEMA_FILE} is out of date: run manage.py graphql_schema")
                raise SystemExit(1)
            return
        SCHEMA_FILE.write_text(sdl)
        self.stdout.write(f"Wrote {SCHEMA_FILE}")

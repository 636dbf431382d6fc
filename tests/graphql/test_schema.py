from graphql_api.management.commands.graphql_schema import SCHEMA_FILE, schema_sdl


def test_the_checked_in_schema_is_the_codes():
    assert SCHEMA_FILE.read_text() == schema_sdl(), (
        "docs/graphql.schema.graphql is out of date: run `manage.py graphql_schema`"
    )

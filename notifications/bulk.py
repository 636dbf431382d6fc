"""Set-based inserts for fan-outs: one statement for thousands of rows on PostgreSQL.

``bulk_create`` prepares every field of every row in Python and quotes each value into the SQL
(about 0.1 ms per row here), so 10,000 notifications take about a second. A fan-out's rows differ
in only a few columns; ``insert_rows`` sends those columns with ``COPY`` into a temporary staging
table of the connection (from ``COPY_MIN_ROWS`` rows on; fewer go as ``unnest()`` of array
parameters in the same statement) and the rest once:

    COPY stage (n, varying...) FROM STDIN
    WITH staged AS (DELETE FROM stage RETURNING *)
    INSERT INTO t (varying..., constant...)
    SELECT s.*, <constants> FROM staged s ORDER BY s.n ON CONFLICT ... RETURNING ...

``COPY`` streams rows without building or parsing one big parameter, which measured faster than
the same insert fed by ``unnest()`` of array parameters (docs/benchmarks.md, fan-out). The
staging table is ``ON COMMIT DELETE ROWS`` and emptied by the statement that reads it, so two
calls in one transaction never see each other's rows; it lives as long as the connection
(a transaction-pooling proxy in front of PostgreSQL would need session pooling for it).

The constants come from an unsaved model instance (so field defaults and ``auto_now`` apply,
including fields added later), each cast to its column type.
"""

from __future__ import annotations

import enum
import hashlib

from django.db import connection, models
from django.core.exceptions import EmptyResultSet
from django.db.models.lookups import In

# From this many rows on, the varying columns go by COPY; fewer go as array parameters of the
# INSERT itself, one round trip instead of three (create, copy, insert).
COPY_MIN_ROWS = 500


def supports_set_insert() -> bool:
    return connection.vendor == "postgresql"


class AnyOf(In):
    """``field__any_of=ids``: ``field IN ids`` for thousands of integer ids, sent on PostgreSQL
    as ``field = ANY(%s::bigint[])`` with the ids as one array parameter instead of one quoted
    literal per id.

    ``= ANY(array)`` is a condition the primary key's index answers directly, so the rows are
    read by id whatever the planner believes about the rest of the filter. The earlier form,
    ``IN (SELECT unnest(%s))``, became a semi-join that the planner drove from the other side:
    every due delivery row scanned and matched against the ids (about 100 ms for a claim of
    200 rows behind a backlog of 16,000; a sequential scan of the table once analyzed).
    Registered on every field in ``NotificationsConfig.ready``.
    """

    lookup_name = "any_of"

    def get_prep_lookup(self):
        return [int(value) for value in self.rhs]  # ids: no per-value field preparation

    def as_postgresql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s::bigint[])", (*lhs_params, self.rhs)

    def as_sql(self, compiler, connection):
        if not self.rhs:
            raise EmptyResultSet
        return super().as_sql(compiler, connection)


def insert_rows(
    model: type[models.Model],
    *,
    varying: dict[str, list],
    constant: dict,
    conflict_fields: tuple[str, ...] | None = None,
    returning: tuple[str, ...] = ("id",),
) -> list[tuple]:
    """Insert one row per position of the ``varying`` columns (attnames → equal-length lists),
    with the ``constant`` values (and every other field's default) in all of them.

    ``conflict_fields``: skip rows that violate that unique constraint (ON CONFLICT DO NOTHING).
    Returns the ``returning`` columns of the rows actually inserted. PostgreSQL only.
    """
    lengths = {len(values) for values in varying.values()}
    if len(lengths) != 1:
        raise ValueError("varying columns must have the same length")
    if not lengths.pop():
        return []
    template = model(**constant)
    quote = connection.ops.quote_name
    varying_fields = [model._meta.get_field(name) for name in varying]
    varying_columns = {field.column for field in varying_fields}
    constant_fields = [
        field
        for field in model._meta.concrete_fields
        if not field.primary_key and field.column not in varying_columns
    ]
    columns = [field.column for field in varying_fields + constant_fields]
    column_values: list = []  # one list per varying column
    for field in varying_fields:
        values = [_plain(value) for value in varying[field.attname]]
        if _needs_prep(field):
            values = [field.get_db_prep_save(value, connection) for value in values]
        column_values.append(values)
    constant_sql = []
    params: list = []
    for field in constant_fields:
        value = field.get_db_prep_save(_plain(field.pre_save(template, add=True)), connection)
        constant_sql.append(f"%s::{field.db_type(connection)}")
        params.append(value)
    aliases = [f"v{index}" for index in range(len(varying_fields))]
    count = len(column_values[0])
    staged = count >= COPY_MIN_ROWS
    if staged:
        stage = _staging_table(model, varying_fields)
        source = f"(DELETE FROM {stage} RETURNING *)"
    else:
        source = (
            "(SELECT * FROM unnest("
            + ", ".join(f"%s::{field.db_type(connection)}[]" for field in varying_fields)
            + f") WITH ORDINALITY AS r({', '.join(aliases)}, n))"
        )
        params = [*column_values, *params]
    sql = (
        f"WITH staged AS {source} "
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(map(quote, columns))}) "
        f"SELECT {', '.join(f's.{alias}' for alias in aliases)}"
        f"{', ' if constant_sql else ''}{', '.join(constant_sql)} "
        # Rows go in in the order given, so concurrent inserts take row locks in one order.
        "FROM staged s ORDER BY s.n"
    )
    if conflict_fields:
        conflict_columns = [model._meta.get_field(name).column for name in conflict_fields]
        sql += f" ON CONFLICT ({', '.join(map(quote, conflict_columns))}) DO NOTHING"
    returning_columns = [model._meta.get_field(name).column for name in returning]
    sql += f" RETURNING {', '.join(map(quote, returning_columns))}"
    with connection.cursor() as cursor:
        if staged:
            cursor.execute(
                f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} (n integer, "
                + ", ".join(
                    f"{alias} {field.db_type(connection)}"
                    for alias, field in zip(aliases, varying_fields)
                )
                + ") ON COMMIT DELETE ROWS"
            )
            with cursor.copy(f"COPY {stage} FROM STDIN") as copy:
                for row in zip(range(count), *column_values):
                    copy.write_row(row)
        cursor.execute(sql, params)
        return cursor.fetchall()


def _staging_table(model: type[models.Model], fields: list[models.Field]) -> str:
    """The connection's staging table for these columns of ``model`` (a valid identifier)."""
    columns = ",".join(f"{field.column}:{field.db_type(connection)}" for field in fields)
    digest = hashlib.sha1(columns.encode()).hexdigest()[:10]
    return f"herald_stage_{model._meta.db_table[:36]}_{digest}"


def _needs_prep(field: models.Field) -> bool:
    """Plain integers, strings and booleans go to COPY as they are."""
    return not isinstance(
        field, (models.IntegerField, models.CharField, models.BooleanField, models.ForeignKey)
    )


def _plain(value):
    # A choices member (e.g. Channel.EMAIL) must reach the driver as its value, not its name.
    return value.value if isinstance(value, enum.Enum) else value

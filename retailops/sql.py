"""Fixed SQL for the hottest paths: reads and writes whose statement text never changes.

The ORM compiles every queryset into SQL on every call. For a partner's checkout hold or
token check that compilation costs several times the query itself (about 1 ms for a
plain filter, 3 ms with two joins, against 0.2 ms to run it on PostgreSQL), so the few
statements a hot request needs are written once here, from the models' own metadata, and
the rows come back as ordinary model instances. Everything else uses the ORM.
"""

from functools import cache

import psycopg
from django.db import connection, models
from django.db.backends.signals import connection_created
from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init
from django.dispatch import receiver
from django.utils import timezone


def _quote(name: str) -> str:
    return connection.ops.quote_name(name)


def _fields_of(model: type[models.Model], only: tuple[str, ...] | None) -> list:
    """The concrete fields read: all of them, or those named (by attribute) in `only`."""
    fields = model._meta.concrete_fields
    return list(fields) if only is None else [field for field in fields if field.attname in only]


@cache
def columns_of(model: type[models.Model], alias: str = "", only: tuple[str, ...] | None = None,
               ) -> tuple[tuple[str, ...], str]:
    """(attribute names, column list) of a model's concrete fields (or those in `only`), in
    field order; the columns prefixed with `alias.` when given."""
    fields = _fields_of(model, only)
    prefix = f"{alias}." if alias else ""
    return tuple(field.attname for field in fields), ", ".join(prefix + _quote(field.column) for field in fields)


@cache
def _converters(model: type[models.Model], vendor: str, only: tuple[str, ...] | None,
                ) -> tuple[tuple[int, tuple, object], ...]:
    """Per column of `columns_of(model, only=only)`: the converters the ORM applies to a
    value read from the database (the backend's, then the field's `from_db_value`: JSON
    text becomes data, SQLite's timestamps become aware datetimes, …)."""
    converters = []
    for index, field in enumerate(_fields_of(model, only)):
        column = field.get_col(model._meta.db_table)
        found = tuple(connection.ops.get_db_converters(column) + field.get_db_converters(connection))
        if found:
            converters.append((index, found, column))
    return tuple(converters)


def from_row(model: type[models.Model], row, only: tuple[str, ...] | None = None) -> models.Model:
    """A model instance from a row of `columns_of(model, only=only)`, as the ORM would
    build it; with `only`, like a queryset's `.only()`: the other fields load from the
    database when first touched.

    The instance is filled directly, as `Model.__init__` fills it from positional values,
    without running it: a posting reads a level per key, and for a thousand levels
    `__init__` cost more than the query. A model that customises loading, or whose
    instances someone listens for (pre_init, post_init), goes through `from_db` as usual."""
    names, _sql = columns_of(model, only=only)
    values = list(row)
    for index, converters, column in _converters(model, connection.vendor, only):
        for converter in converters:
            values[index] = converter(values[index], column, connection)
    if not _plainly_loaded(model):
        return model.from_db(connection.alias, names, values)
    instance = model.__new__(model)
    instance.__dict__.update(zip(names, values, strict=True))
    state = instance._state = ModelState()
    state.adding, state.db = False, connection.alias
    return instance


def _plainly_loaded(model: type[models.Model]) -> bool:
    return (model.from_db.__func__ is models.Model.from_db.__func__
            and not pre_init.has_listeners(model) and not post_init.has_listeners(model))


class _UnpreparedCursor(psycopg.Cursor):
    """Executes every statement once, planned for its parameters, never prepared."""

    def execute(self, query, params=None, **kwargs):
        return super().execute(query, params, prepare=False, **kwargs)


@receiver(connection_created, dispatch_uid="retailops.sql.generic_plans")
def _plan_prepared_statements_once(sender, connection, **kwargs) -> None:
    """A prepared statement keeps one generic plan. Left to choose, PostgreSQL plans a
    statement over arrays (`unnest(%s)`, `= ANY(%s)`) afresh on every run, because it
    prices a generic plan for ten elements against a custom plan for the one it was
    given: a millisecond of planning for a tenth of a millisecond of work. The statements
    prepared here are key lookups whose generic plan is the plan; set-based batches run
    unprepared (`execute(prepare=False)`), planned for the arrays they carry."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('plan_cache_mode', 'force_generic_plan', false)")


def execute(sql: str, params: list, *, prepare: bool = True) -> list[tuple]:
    """Run a statement; the rows it returns, if any.

    On PostgreSQL the parameters are bound on the server, and `%b` placeholders take
    whole lists as binary arrays. A fixed statement (`prepare`) is prepared once psycopg
    has seen it a few times on a connection, so it is parsed and planned once per
    connection rather than per call; a set-based write over a batch (`prepare=False`) is
    planned for the arrays it is given, every time. The cursor is Django's wrapper on the
    current connection and transaction, so the statement is logged and counted like any
    other."""
    connection.ensure_connection()
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description else []
    raw = (psycopg.Cursor if prepare else _UnpreparedCursor)(connection.connection)
    with connection.make_debug_cursor(raw) if connection.queries_logged else connection.make_cursor(raw) as cursor:
        cursor.execute(sql, params)
        # Not `description`: it builds a column object per column just to say whether rows came.
        return cursor.fetchall() if raw.pgresult.status == psycopg.pq.ExecStatus.TUPLES_OK else []


def select_models(model: type[models.Model], where: str, params: list, *,
                  only: tuple[str, ...] | None = None) -> list[models.Model]:
    """Instances of `model` whose rows match `where` (SQL over the model's table, with %s
    placeholders), without compiling a queryset; with `only` (attribute names, the pk
    among them), just those fields are read, as `.only()` would."""
    _names, columns = columns_of(model, only=only)
    sql = f"SELECT {columns} FROM {_quote(model._meta.db_table)} WHERE {where}"  # noqa: S608 (no user input)
    return [from_row(model, row, only) for row in execute(sql, params)]


def placeholders(values) -> str:
    """`%s, %s, …` for an IN list that works on every database."""
    return ", ".join(["%s"] * len(values))


def is_in(column: str, values) -> tuple[str, list]:
    """`column` is one of `values`: on PostgreSQL `= ANY(%s)` with the list as one array
    (one statement text, so one prepared statement, for any number of values); elsewhere
    an IN list."""
    values = list(values)
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s)", [values]
    return f"{column} IN ({placeholders(values) or 'NULL'})", values


@cache
def _insert_with_history_sql(model: type[models.Model], fields: tuple[str, ...]) -> str:
    history = model.history.model
    table, history_table = _quote(model._meta.db_table), _quote(history._meta.db_table)
    columns = [_quote(model._meta.get_field(name).column) for name in fields]
    tracked = [_quote(field.column) for field in history._meta.concrete_fields
               if not field.name.startswith("history_")]
    return (
        f"WITH inserted AS (INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608 (no user input)
        f"VALUES ({placeholders(columns)}) RETURNING *), "
        f"logged AS (INSERT INTO {history_table} ({', '.join(tracked)}, history_date, history_change_reason, "
        f"history_type, history_user_id) SELECT {', '.join(tracked)}, %s, NULL, '+', %s FROM inserted) "
        f"SELECT {_quote(model._meta.pk.column)} FROM inserted"
    )


def create_with_history(model: type[models.Model], *, history_user, **values) -> models.Model:
    """`model.objects.create(**values)` and its simple-history "created" record.

    On PostgreSQL both rows go in with one statement (a CTE); elsewhere through the ORM,
    whose post-save signal writes the record. `values` name concrete fields by attribute
    (`sku_id=…`), and every field without a database default must be given."""
    now = timezone.now()
    for field in model._meta.concrete_fields:
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            values.setdefault(field.attname, now)
    instance = model(**values)
    if connection.vendor != "postgresql":
        instance._history_user = history_user
        instance.save(force_insert=True)
        return instance
    fields = tuple(field.attname for field in model._meta.concrete_fields if field.attname in values)
    params = [model._meta.get_field(name).get_db_prep_save(getattr(instance, name), connection) for name in fields]
    ((instance.pk,),) = execute(_insert_with_history_sql(model, fields),
                                [*params, now, getattr(history_user, "pk", None)])
    instance._state.adding = False
    instance._state.db = connection.alias
    return instance

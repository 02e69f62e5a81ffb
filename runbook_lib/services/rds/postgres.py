"""PostgreSQL's SQL for :mod:`runbook_lib.services.rds.data` (psycopg 3): one REPEATABLE READ,
read-only transaction over every user table; per table ``count(*)`` and the sum modulo 2**64
of the first 64 bits of each row's ``md5(row::text)``, computed inside the database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from runbook_lib.restore.canary import canary_time, stamp
from runbook_lib.services.rds.data import (
    CANARY_PREFIX,
    CANARY_TABLE,
    Login,
    Table,
    parse_row_key,
)

CANARY_SCHEMA = "public"


def __getattr__(name: str) -> Any:
    if name == "CONNECT_ERRORS":  # the driver is imported only when a database is read
        import psycopg

        return (psycopg.OperationalError,)
    raise AttributeError(name)


def open_connection(login: Login, timeout: int) -> Any:
    import psycopg

    return psycopg.connect(**login.driver_args(timeout, "dbname"), application_name="runbook")


def run(conn: Any, statements: list[str]) -> None:
    with conn.transaction():
        for statement in statements:
            conn.execute(statement)


_TABLES = """
SELECT n.nspname, c.relname, c.oid
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%%' AND n.nspname NOT LIKE 'pg_temp%%'
ORDER BY 1, 2
"""
_PRIMARY_KEY = """
SELECT a.attname FROM pg_index i
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
WHERE i.indrelid = %s AND i.indisprimary
ORDER BY array_position(i.indkey::int2[], a.attnum)
"""
_ROW_DIGEST = "substr(md5(t::text), 1, 16)"


def read_tables(conn: Any, key_limit: int) -> list[Table]:
    """Every user table's count and hash (and, within ``key_limit`` rows, per-row digests),
    in one REPEATABLE READ read-only transaction: one consistent snapshot."""
    from psycopg import IsolationLevel, sql

    conn.isolation_level = IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    out: list[Table] = []
    with conn.transaction():
        for schema, name, oid in conn.execute(_TABLES).fetchall():
            ident = sql.Identifier(schema, name)
            count, total = conn.execute(
                sql.SQL(
                    "SELECT count(*), coalesce(sum(('x' || {d})::bit(64)::bigint::numeric), 0) "
                    "FROM {t} AS t"
                ).format(d=sql.SQL(_ROW_DIGEST), t=ident)
            ).fetchone()
            table = Table(schema=schema, name=name, count=int(count), hash64=int(total) % (1 << 64))
            table.keys = [r[0] for r in conn.execute(_PRIMARY_KEY, (oid,)).fetchall()]
            if table.keys and table.count <= key_limit:
                cols = sql.SQL(", ").join(
                    sql.SQL("t.{}::text").format(sql.Identifier(k)) for k in table.keys
                )
                cur = conn.execute(
                    sql.SQL("SELECT {d}, {c} FROM {t} AS t").format(
                        d=sql.SQL(_ROW_DIGEST), c=cols, t=ident
                    )
                )
                for digest, *values in cur:
                    table.add_row(values, digest)
            out.append(table)
    return out


def query_value(conn: Any, query: str, timeout: int) -> Any:
    """The first column of the first row ``query`` returns (None without a row), in a
    read-only transaction with a statement time-out of ``timeout`` seconds."""
    conn.read_only = True
    with conn.transaction():
        conn.execute(f"SET LOCAL statement_timeout = {int(timeout) * 1000}")
        row = conn.execute(query).fetchone()
    return None if row is None else row[0]


def canaries(conn: Any) -> list[datetime]:
    from psycopg import sql

    with conn.transaction():
        found = conn.execute(
            "SELECT 1 FROM pg_tables WHERE schemaname = 'public' AND tablename = %s",
            (CANARY_TABLE,),
        ).fetchone()
        if not found:
            return []
        ids = conn.execute(
            sql.SQL("SELECT id FROM {}").format(sql.Identifier("public", CANARY_TABLE))
        )
        return sorted(t for (i,) in ids if (t := canary_time(i)) is not None)


def write_canary(conn: Any, run_id: str, now: datetime) -> str:
    from psycopg import sql

    table = sql.Identifier("public", CANARY_TABLE)
    ident = f"{CANARY_PREFIX}{stamp(now)}"
    with conn.transaction():
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (id text PRIMARY KEY, written_at timestamptz NOT NULL, "
                "run_id text NOT NULL)"
            ).format(table)
        )
        conn.execute(
            sql.SQL("INSERT INTO {} (id, written_at, run_id) VALUES (%s, %s, %s)").format(table),
            (ident, now, run_id),
        )
    return f"public.{CANARY_TABLE}|id={ident}"


def row_values(conn: Any, key: str) -> dict[str, Any] | None:
    from psycopg import sql

    schema, name, parts = parse_row_key(key)
    if not parts:
        return None
    where = sql.SQL(" AND ").join(sql.SQL("{}::text = %s").format(sql.Identifier(c)) for c in parts)
    with conn.transaction():
        cur = conn.execute(
            sql.SQL("SELECT * FROM {} WHERE {} LIMIT 1").format(
                sql.Identifier(schema, name), where
            ),
            list(parts.values()),
        )
        row = cur.fetchone()
        if row is None:
            return None
        return {d.name: v for d, v in zip(cur.description, row, strict=True)}

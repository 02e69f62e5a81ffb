"""MySQL's SQL (RDS MySQL and MariaDB, Aurora MySQL) for :mod:`runbook_lib.services.rds.data`,
through PyMySQL: one ``START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY`` (REPEATABLE
READ) over every table of every user database; per table ``COUNT(*)`` and the sum of the
first 64 bits of each row's ``MD5(JSON_ARRAY(<every column>))``, computed inside the
database (``JSON_ARRAY`` keeps NULLs and column boundaries apart)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from runbook_lib.restore.canary import canary_time, stamp
from runbook_lib.services.rds.data import (
    CANARY_PREFIX,
    CANARY_TABLE,
    Login,
    Table,
    parse_row_key,
)

SYSTEM = ("mysql", "information_schema", "performance_schema", "sys")
#: the database that holds the canary table when the login names none
CANARY_DATABASE = "runbook_restore"


def __getattr__(name: str) -> Any:
    if name == "CONNECT_ERRORS":  # the driver is imported only when a database is read
        import pymysql

        return (pymysql.err.OperationalError,)
    raise AttributeError(name)


def open_connection(login: Login, timeout: int) -> Any:
    import pymysql

    return pymysql.connect(
        **login.driver_args(timeout, "database"), autocommit=True, charset="utf8mb4"
    )


def _q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def run(conn: Any, statements: list[str]) -> None:
    with conn.cursor() as cur:
        cur.execute("START TRANSACTION")
        for statement in statements:
            cur.execute(statement)
        cur.execute("COMMIT")


_TABLES = (
    "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
    "AND table_schema NOT IN ({}) ORDER BY 1, 2".format(", ".join(f"'{s}'" for s in SYSTEM))
)
_COLUMNS = (
    "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND "
    "table_name = %s ORDER BY ordinal_position"
)
_PRIMARY_KEY = (
    "SELECT column_name FROM information_schema.key_column_usage WHERE table_schema = %s AND "
    "table_name = %s AND constraint_name = 'PRIMARY' ORDER BY ordinal_position"
)


def _digest(columns: list[str]) -> str:
    return f"SUBSTRING(MD5(JSON_ARRAY({', '.join(_q(c) for c in columns)})), 1, 16)"


def read_tables(conn: Any, key_limit: int) -> list[Table]:
    out: list[Table] = []
    with conn.cursor() as cur:
        cur.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cur.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        try:
            cur.execute(_TABLES)
            for schema, name in cur.fetchall():
                cur.execute(_COLUMNS, (schema, name))
                columns = [r[0] for r in cur.fetchall()]
                ident = f"{_q(schema)}.{_q(name)}"
                digest = _digest(columns)
                cur.execute(
                    f"SELECT COUNT(*), COALESCE(SUM(CAST(CONV({digest}, 16, 10) AS DECIMAL(20, 0))), 0) "
                    f"FROM {ident}"
                )
                count, total = cur.fetchone()
                table = Table(
                    schema=schema, name=name, count=int(count), hash64=int(total) % (1 << 64)
                )
                cur.execute(_PRIMARY_KEY, (schema, name))
                table.keys = [r[0] for r in cur.fetchall()]
                if table.keys and table.count <= key_limit:
                    keys = ", ".join(f"CAST({_q(k)} AS CHAR)" for k in table.keys)
                    cur.execute(f"SELECT {digest}, {keys} FROM {ident}")
                    for row_digest, *values in cur.fetchall():
                        table.add_row(values, row_digest)
                out.append(table)
        finally:
            cur.execute("COMMIT")
    return out


def query_value(conn: Any, query: str, timeout: int) -> Any:
    """The first column of the first row ``query`` returns (None without a row), in a
    read-only transaction (rolled back); ``timeout``: the client's read time-out."""
    conn._read_timeout = timeout  # PyMySQL's per-socket read time-out, for this call
    with conn.cursor() as cur:
        cur.execute("START TRANSACTION READ ONLY")
        try:
            cur.execute(query)
            row = cur.fetchone()
        finally:
            cur.execute("ROLLBACK")
    return None if row is None else row[0]


def _canary_db(conn: Any) -> str:
    return conn.db.decode() if isinstance(conn.db, bytes) else (conn.db or CANARY_DATABASE)


def canaries(conn: Any) -> list[datetime]:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = %s",
            (CANARY_TABLE,),
        )
        found = []
        for (schema,) in cur.fetchall():
            cur.execute(f"SELECT id FROM {_q(schema)}.{_q(CANARY_TABLE)}")
            found += [t for (i,) in cur.fetchall() if (t := canary_time(i)) is not None]
    return sorted(found)


def write_canary(conn: Any, run_id: str, now: datetime) -> str:
    schema = _canary_db(conn)
    table = f"{_q(schema)}.{_q(CANARY_TABLE)}"
    ident = f"{CANARY_PREFIX}{stamp(now)}"
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE IF NOT EXISTS {_q(schema)}")
        cur.execute(
            f"CREATE TABLE IF NOT EXISTS {table} (id VARCHAR(64) PRIMARY KEY, "
            "written_at DATETIME(6) NOT NULL, run_id VARCHAR(200) NOT NULL)"
        )
        cur.execute(
            f"INSERT INTO {table} (id, written_at, run_id) VALUES (%s, %s, %s)",
            (ident, now.astimezone(UTC).replace(tzinfo=None), run_id),
        )
    return f"{schema}.{CANARY_TABLE}|id={ident}"


def row_values(conn: Any, key: str) -> dict[str, Any] | None:
    schema, name, parts = parse_row_key(key)
    if not parts:
        return None
    where = " AND ".join(f"CAST({_q(c)} AS CHAR) = %s" for c in parts)
    with conn.cursor() as cur:
        cur.execute(
            f"SELECT * FROM {_q(schema)}.{_q(name)} WHERE {where} LIMIT 1", list(parts.values())
        )
        row = cur.fetchone()
        if row is None:
            return None
        return {d[0]: v for d, v in zip(cur.description, row, strict=True)}

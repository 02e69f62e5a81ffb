"""The data inside RDS DB instances and Aurora clusters: reaching it, fingerprinting it, and
canary rows. Engines: PostgreSQL (``postgres``, ``aurora-postgresql``) through psycopg 3
(:mod:`.postgres`), MySQL and MariaDB (``mysql``, ``mariadb``, ``aurora-mysql``) through
PyMySQL (:mod:`.mysql`); this module holds what they share.

Reaching the data
    The source's login comes from its RDS-managed master user secret (``MasterUserSecret``)
    or from the Secrets Manager secret named by the tag ``tag_keys.db_secret`` on the
    resource (JSON with ``username`` and ``password``, optionally ``dbname``); never from
    params. A scratch copy gets a fresh random master password (ModifyDBInstance /
    ModifyDBCluster) held in memory only. Every connection has a connect time-out: an
    endpoint that does not answer gives :class:`NotReachable`, never a hang.

Fingerprint
    One consistent read (a REPEATABLE READ, read-only transaction: one snapshot of the
    database) of every user table (PostgreSQL: of the login's database; MySQL: of every
    non-system database); per table, inside the database, the row count and an
    order-independent hash (the sum, modulo 2**64, of the first 64 bits of each row's MD5),
    so rows are never shipped to the client. For tables with a primary key and at most
    ``key_limit`` rows, each row's key and 64-bit digest are read too, so a difference can
    name the first keys that differ.

Canary rows
    One row per backup in the small table ``runbook_restore_canary`` (``id`` =
    ``__restore_canary__#<time>``); the newest one found in a restored copy is its
    measured freshness. backup_now fingerprints again once the backup completed; when the
    two differ, the restore is checked within their bounds (``restore/validate.py``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from runbook_lib.errors import RunbookError
from runbook_lib.fingerprint import Fingerprint, canonical
from runbook_lib.restore.canary import DYNAMODB_PREFIX
from runbook_lib.services.rds.names import Kind

log = logging.getLogger("runbook_lib")

KIND = "database-tables"
FAMILIES = {  # RDS engine -> SQL dialect
    "postgres": "postgres",
    "aurora-postgresql": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
    "aurora-mysql": "mysql",
}
CANARY_TABLE = "runbook_restore_canary"
CANARY_PREFIX = DYNAMODB_PREFIX  # the same key form: __restore_canary__#<time>
KEY_LIMIT = 200_000  # per-row digests are kept for tables of at most this many rows
CONNECT_TIMEOUT = 10  # seconds
QUERY_TIMEOUT = 300  # seconds, per user check query


class NotReachable(RunbookError):
    """The database endpoint did not answer (network path, security group, or down)."""


class NoLogin(RunbookError):
    """No secret says how to log in to the database."""


def family(engine: str | None) -> str | None:
    """The SQL dialect of an RDS engine this module reads (``postgres``, ``mysql``), else None."""
    return FAMILIES.get(engine or "")


@dataclass(kw_only=True)
class Login:
    """Where and how to connect. The password is never printed (not in ``repr``)."""

    host: str
    port: int
    user: str
    dbname: str | None
    password: str = field(repr=False)
    family: str = "postgres"

    def driver_args(self, timeout: int, database: str) -> dict[str, Any]:
        """The keyword arguments both drivers' ``connect`` take for this login, the database
        under the driver's keyword ``database`` (psycopg: ``dbname``; PyMySQL: ``database``),
        with a connect time-out of ``timeout`` seconds."""
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            database: self.dbname,
            "connect_timeout": timeout,
        }


# --------------------------------------------------------------------------- logins


def endpoint(desc: dict[str, Any]) -> tuple[str, int]:
    """(host, port) of a DB instance or cluster description."""
    ep = desc.get("Endpoint")
    if isinstance(ep, dict):  # a DB instance
        return ep["Address"], int(ep["Port"])
    return str(ep), int(desc["Port"])


def readable(session: Any, desc: dict[str, Any]) -> bool:
    """Whether the runbooks read this database's content: an engine they speak and, on the
    sandbox, a real server behind the endpoint (without the engine's binaries the sandbox's
    RDS is metadata only, and its endpoint a made-up name)."""
    if family(desc.get("Engine")) is None:
        return False
    return not session.sandbox or endpoint(desc)[0] in ("127.0.0.1", "localhost")


def _dbname(desc: dict[str, Any], secret: dict[str, Any] | None = None) -> str | None:
    """The database to read: the secret's, else the one created with the resource; else
    PostgreSQL's ``postgres`` (MySQL: every user database, none named)."""
    named = (secret or {}).get("dbname") or desc.get("DBName") or desc.get("DatabaseName")
    return named or ("postgres" if family(desc.get("Engine")) == "postgres" else None)


def _tags(desc: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in desc.get("TagList") or []}


def source_login(session: Any, account: str, region: str, desc: dict, tag_key: str) -> Login:
    """The login of a source database: its RDS-managed master secret, else the secret its
    ``tag_key`` tag names."""
    secret_id = (desc.get("MasterUserSecret") or {}).get("SecretArn") or _tags(desc).get(tag_key)
    if not secret_id:
        raise NoLogin(
            f"{desc.get('DBInstanceIdentifier') or desc.get('DBClusterIdentifier')}: no "
            f"MasterUserSecret and no {tag_key!r} tag naming a Secrets Manager secret; "
            "turn on ManageMasterUserPassword or tag the resource with the secret's name"
        )
    sm = session.client("secretsmanager", account, region)
    value = json.loads(sm.get_secret_value(SecretId=secret_id)["SecretString"])
    host, port = endpoint(desc)
    return Login(
        host=host,
        port=port,
        user=value.get("username") or desc["MasterUsername"],
        password=value["password"],
        dbname=_dbname(desc, value),
        family=family(desc.get("Engine")) or "postgres",
    )


def new_password() -> str:
    """A fresh master password (letters and digits: valid for every RDS engine)."""
    return secrets.token_urlsafe(24).replace("-", "a").replace("_", "b")


def scratch_login(client: Any, kind: Kind, name: str, timeout: float = 1800.0) -> Login:
    """Give the scratch DB instance or cluster ``name`` (of ``kind``) a fresh random master
    password and return its login; the password lives only in the returned object."""
    password = new_password()
    getattr(client, kind.modify)(
        **{kind.ident: name}, MasterUserPassword=password, ApplyImmediately=True
    )
    deadline, delay = time.monotonic() + timeout, 0.2
    while True:
        desc = kind.describe_one(client, name)
        if desc.get(kind.status) == "available":
            break
        if time.monotonic() > deadline:
            raise RunbookError(f"{name}: not available {timeout:.0f}s after the password change")
        time.sleep(delay)
        delay = min(delay * 2, 15.0)
    host, port = endpoint(desc)
    return Login(
        host=host,
        port=port,
        user=desc["MasterUsername"],
        password=password,
        dbname=_dbname(desc),
        family=family(desc.get("Engine")) or "postgres",
    )


@dataclass(kw_only=True)
class Db:
    """An open connection and the engine's SQL (:mod:`.postgres` or :mod:`.mysql`)."""

    conn: Any
    dialect: Any

    def read_tables(self, key_limit: int = KEY_LIMIT) -> list[Table]:
        """Every user table's count and hash (and, within ``key_limit`` rows, per-row
        digests), in one consistent read (one snapshot of the database)."""
        return self.dialect.read_tables(self.conn, key_limit)

    def canaries(self) -> list[datetime]:
        """The times of the canary rows (none without a canary table)."""
        return self.dialect.canaries(self.conn)

    def write_canary(self, run_id: str, now: datetime) -> str:
        """One canary row (the table is made when missing); its key in the fingerprint's form."""
        return self.dialect.write_canary(self.conn, run_id, now)

    def row_values(self, key: str) -> dict[str, Any] | None:
        """The row ``schema.table|col=value|...`` as plain values (``expected_values``)."""
        return self.dialect.row_values(self.conn, key)

    def query_value(self, query: str, timeout: int = QUERY_TIMEOUT) -> Any:
        """The first value ``query`` returns, read only (the ``sql`` user check)."""
        return self.dialect.query_value(self.conn, query, timeout)

    def run(self, statements: Iterable[str]) -> None:
        """Run ``statements`` in one transaction (seeding, tests)."""
        self.dialect.run(self.conn, list(statements))


def dialect(name: str) -> Any:
    if name == "postgres":
        from runbook_lib.services.rds import postgres as module
    else:
        from runbook_lib.services.rds import mysql as module
    return module


@contextmanager
def connect(login: Login, timeout: int = CONNECT_TIMEOUT) -> Iterator[Db]:
    """A connection to ``login``'s database; :class:`NotReachable` when the endpoint does not
    answer within ``timeout`` seconds."""
    sql = dialect(login.family)
    try:
        conn = sql.open_connection(login, timeout)
    except sql.CONNECT_ERRORS as err:
        # the driver's message can quote the connection string: keep only its first line,
        # which names the host and the cause, never the password
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise NotReachable(
            f"NOT_REACHABLE: no connection to {login.host}:{login.port} database "
            f"{login.dbname!r} (connect time-out {timeout}s): {first.replace(login.password, '***')}. "
            "When the endpoint does not answer, run the runbook where it is reachable (same VPC, "
            "a peered VPC or a VPN) with a security group that admits the database port"
        ) from None
    try:
        yield Db(conn=conn, dialect=sql)
    finally:
        conn.close()


# --------------------------------------------------------------------------- fingerprint


@dataclass(kw_only=True)
class Table:
    schema: str
    name: str
    count: int
    hash64: int
    keys: list[str] = field(default_factory=list)  # primary key columns
    rows: dict[str, str] = field(default_factory=dict)  # row key -> 64-bit digest (hex)

    @property
    def label(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def is_canary(self) -> bool:
        return self.name == CANARY_TABLE

    def add_row(self, values: Iterable[Any], digest: str) -> None:
        """Keep one row's ``digest`` under its key ``schema.table|col=value|...`` (``values``:
        its primary key's, in ``keys`` order)."""
        key = "|".join(f"{k}={v}" for k, v in zip(self.keys, values, strict=True))
        self.rows[f"{self.label}|{key}"] = digest


def parse_row_key(key: str) -> tuple[str, str, dict[str, str]]:
    """``schema.table|col=value|...`` (a row's key, :meth:`Table.add_row`) -> (schema, table,
    column -> value)."""
    label, _, rest = key.partition("|")
    schema, _, name = label.partition(".")
    return schema, name, dict(p.split("=", 1) for p in rest.split("|") if "=" in p)


def fingerprint(tables: list[Table], with_canary: bool = True) -> Fingerprint:
    """One fingerprint of ``tables``: ``count`` = rows; the digest sums one digest per table
    (name, count, hash), so it is order-independent; ``key_digests`` holds one entry per table
    (``schema.table`` -> count and hash) and one per row where rows were read by key, so a
    difference names the table and then the first differing keys."""
    fp = Fingerprint(KIND)
    rows = 0
    for t in tables:
        if t.is_canary and not with_canary:
            continue
        digest = int.from_bytes(
            hashlib.blake2b(
                canonical([t.label, t.count, f"{t.hash64:016x}"]), digest_size=16
            ).digest(),
            "big",
        )
        fp.digest = (fp.digest + digest) % (1 << 128)
        fp.key_digests[t.label] = f"{t.count}:{t.hash64:016x}"
        fp.key_digests.update(t.rows)
        rows += t.count
    fp.count = rows
    return fp

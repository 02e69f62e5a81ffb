"""Real database engines behind the sandbox's data services, the way LocalStack backs RDS.

Installed into moto by :func:`install` (``prepare_moto_environment`` calls it): PostgreSQL
(Debian's ``postgresql`` package) behind RDS DB instances of engine ``postgres`` and Aurora
clusters of engine ``aurora-postgresql``; MariaDB (``mariadb-server``, ``mariadb-backup``)
behind ``mysql``, ``mariadb`` and ``aurora-mysql``; see :mod:`runbook_sandbox.engines.rds`.
Redis (``redis-server``, :mod:`.redis`) behind ElastiCache Redis replication groups and cache
clusters, hooked by :mod:`runbook_sandbox.elasticache_ext`.
Where the server binaries are missing, RDS (ElastiCache) stays metadata only, as moto makes it, and
:func:`status` says why.
"""

from __future__ import annotations

from runbook_sandbox.engines import mariadb, postgres, redis

__all__ = ["install", "status"]


def status() -> dict[str, str]:
    """engine -> "" when it runs behind the sandbox, else why not."""
    return {
        "postgres": postgres.missing_reason(),
        "mariadb": mariadb.missing_reason(),
        "redis": redis.missing_reason(),
    }


def install() -> None:
    """Hook the engines into moto's backends (idempotent)."""
    from runbook_sandbox.engines import rds

    rds.install()

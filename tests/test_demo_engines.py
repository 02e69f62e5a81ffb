"""The demo with real engines (runbook_sandbox.demo): which engines it says run, and which of
the day's restore tests get a backup_now first (the databases and caches, whose content is
proven only against a backup-time fingerprint). The days themselves: tests/test_demo.py;
the engines' snapshots: tests/sandbox/test_engine_snapshot_sharing.py."""

from __future__ import annotations

import pandas as pd

from runbook_sandbox.demo import FINGERPRINTED_AT_BACKUP, engine_status, to_fingerprint


def test_engine_status_says_which_run_and_why_not():
    lines = engine_status(
        {
            "redis": "",
            "postgres": "real engines turned off (RUNBOOK_SANDBOX_ENGINES=no)",
            "mariadb": "MariaDB binaries not found (mariabackup): install mariadb-backup",
        }
    )
    assert lines == [
        "real mariadb: off: MariaDB binaries not found (mariabackup): install mariadb-backup",
        "real postgres: off: real engines turned off (RUNBOOK_SANDBOX_ENGINES=no)",
        "real redis: on",
    ]


def test_only_the_days_databases_and_caches_are_fingerprinted_first():
    arn = "arn:aws:{}:sa-east-1:700000000007:{}"
    candidates = pd.DataFrame(
        {
            "arn": [
                arn.format("rds", "db:Ledger-Main"),
                arn.format("rds", "cluster:ledger aurora"),
                arn.format("elasticache", "replicationgroup:sess-1"),
                arn.format("dynamodb", "table/Orders.v2"),
                arn.format("rds", "cluster:graph-x"),  # Neptune: no engine behind it
                arn.format("rds", "db:not-today"),
            ],
            "service": ["rds", "aurora", "elasticache", "dynamodb", "neptune", "rds"],
        }
    )
    todays = list(candidates["arn"].iloc[:5])
    assert to_fingerprint(candidates, todays) == todays[:3]
    assert to_fingerprint(candidates, [todays[3]]) == []
    assert set(FINGERPRINTED_AT_BACKUP) == {"rds", "aurora", "elasticache"}


def test_the_final_run_tests_the_engine_backed_resources_unless_told_otherwise():
    from runbook_sandbox.demo import final_parameters

    dbs = ["arn:aws:rds:sa-east-1:700000000007:db:Ledger-Main"]
    given = {"approve": True, "source_arn": "arn:aws:dynamodb:sa-east-1:7:table/x"}
    assert final_parameters(given, dbs) == {**given, "mode": "arns", "arns": dbs}
    assert final_parameters(given, []) == given  # engines off: the schedule's due mode
    assert final_parameters({**given, "mode": "sample"}, dbs) == {**given, "mode": "sample"}
    assert final_parameters({"arns": []}, dbs) == {"arns": []}

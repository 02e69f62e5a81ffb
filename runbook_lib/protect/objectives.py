"""From a tier's objectives to AWS settings: schedules, windows, lifecycles, retentions.

Pure functions, no AWS calls; every rule is written here once so the plan table, the docs
and the tests agree. A service's own limits (maximum retention days, accepted values) are
in its protect module (``runbook_lib.services.<package>.protect``).
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from runbook_lib.inventory.backup import parse_schedule
from runbook_lib.params import Params, Tier

# AWS Backup runs a schedule at most hourly; these intervals divide a day evenly.
_INTERVAL_HOURS = (1, 2, 3, 4, 6, 8, 12, 24)
COLD_STORAGE_MIN_DAYS = 90  # AWS Backup: delete-after must be >= cold-after + 90 days
START_WINDOW_MINUTES = 60  # the AWS minimum


def days(td: timedelta | None) -> int | None:
    """Whole days, rounded up (a retention is never shortened by rounding)."""
    if td is None:
        return None
    return max(1, math.ceil(td.total_seconds() / 86400))


def interval_for_rpo(rpo: timedelta) -> timedelta:
    """The longest standard interval that is not longer than the RPO (at least hourly)."""
    hours = [h for h in _INTERVAL_HOURS if timedelta(hours=h) <= rpo]
    return timedelta(hours=max(hours) if hours else 1)


def schedule_for_rpo(rpo: timedelta, hour_utc: int = 5) -> str:
    """An AWS Backup cron expression whose interval never exceeds the RPO.

    ``1h`` -> ``cron(0 * ? * * *)``; ``6h`` -> ``cron(0 0/6 ? * * *)``; a day or more ->
    daily at ``hour_utc``.
    """
    hours = int(interval_for_rpo(rpo).total_seconds() // 3600)
    if hours == 1:
        return "cron(0 * ? * * *)"
    if hours == 24:
        return f"cron(0 {hour_utc} ? * * *)"
    return f"cron(0 {hour_utc % hours}/{hours} ? * * *)"


def schedule_interval(expression: str) -> timedelta:
    """The longest gap between two runs of an AWS schedule (``cron(...)`` or ``rate(...)``).

    The inventory's parser (one rule for both); raises ``ScheduleError`` (a ValueError)
    naming the expression when it cannot be read.
    """
    return parse_schedule(expression)


def completion_window_minutes(rpo: timedelta) -> int:
    """Long enough for a large backup, never longer than the schedule interval (min 2h)."""
    interval = int(interval_for_rpo(rpo).total_seconds() // 60)
    return max(120, interval)


def lifecycle(tier: Tier) -> tuple[dict[str, int], str | None]:
    """AWS Backup lifecycle for a tier, and a note when cold storage had to be skipped."""
    delete = days(tier.retention)
    cold = days(tier.cold_storage_after)
    out: dict[str, int] = {"DeleteAfterDays": delete}
    note = None
    if cold is not None:
        if delete >= cold + COLD_STORAGE_MIN_DAYS:
            out["MoveToColdStorageAfterDays"] = cold
        else:
            note = (
                f"cold storage after {cold}d skipped: AWS Backup needs retention >= "
                f"cold_storage_after + {COLD_STORAGE_MIN_DAYS}d (retention is {delete}d)"
            )
    return out, note


def wants_continuous(tier: Tier) -> bool:
    """Continuous backup (point-in-time recovery) where the RPO is a day or less."""
    return tier.rpo <= timedelta(days=1)


def ranked_tiers(params: Params) -> list[str]:
    """Tier names, strictest RPO first."""
    return sorted(params.tiers, key=lambda t: (params.tiers[t].rpo, t))


def backup_rule(
    params: Params, tier_name: str, vault_name: str, copy_targets: list[str]
) -> dict[str, Any]:
    """The one rule of a tier's backup plan (without the account-specific vault ARN)."""
    tier = params.tiers[tier_name]
    lc, _note = lifecycle(tier)
    rule: dict[str, Any] = {
        "RuleName": f"{tier_name}-rpo-{int(interval_for_rpo(tier.rpo).total_seconds() // 3600)}h",
        "TargetBackupVaultName": vault_name,
        "ScheduleExpression": schedule_for_rpo(tier.rpo, params.protect.backup_hour_utc),
        "StartWindowMinutes": START_WINDOW_MINUTES,
        "CompletionWindowMinutes": completion_window_minutes(tier.rpo),
        "Lifecycle": lc,
        "RecoveryPointTags": {
            params.tag_keys.tier: tier_name,
            "created-by": f"{params.protect.plan_prefix}-protect",
        },
        "CopyActions": [
            {"DestinationBackupVaultArn": arn, "Lifecycle": dict(lc)}
            for arn in sorted(copy_targets)
        ],
    }
    if tier.rpo < timedelta(hours=1):
        rule["EnableContinuousBackup"] = True
    return rule

"""The data resources a restore test can choose from: the inventory's, without scratch copies.

``runbook_lib.inventory.discover`` is the one enumeration of data resources (paginated,
concurrent, one module per service); this module only leaves out the scratch copies that
restore tests make (they carry the restore-test tag) and turns a row into a ResourceRef.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from runbook_lib.inventory import discover
from runbook_lib.restore.model import ResourceRef, service_of_arn
from runbook_lib.restore.registry import get_handler


def discover_resources(ctx: Any) -> pd.DataFrame:
    """Every data resource of the estate, one row each (inventory columns), without
    scratch copies."""
    df = discover(ctx, progress=False).resources
    key = ctx.params.tag_keys.restore_test
    scratch = df["tags"].map(lambda t: isinstance(t, dict) and key in t).astype(bool)
    return df[~scratch].reset_index(drop=True)


def ref_from_row(row: dict[str, Any]) -> ResourceRef:
    arn = row["arn"]
    svc = row.get("service") or service_of_arn(arn, field_name="arn")[0]
    ident = get_handler(svc).resource_id(arn)  # None where the name is the identifier
    tier, tags = row.get("tier"), row.get("tags")
    return ResourceRef(
        arn,
        svc,
        row["account"],
        row["region"],
        row.get("name") or ident,
        tier if isinstance(tier, str) and tier else None,
        ident,
        {str(k): str(v) for k, v in tags.items()} if isinstance(tags, dict) else {},
    )

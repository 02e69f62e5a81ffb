"""Protect for OpenSearch domains: the automated snapshot hour (the service keeps those
snapshots 14 days); a copy to another Region needs a manual snapshot repository (manual)."""

from __future__ import annotations

from runbook_lib.inventory.model import Found, Scope
from runbook_lib.params import Params, Tier
from runbook_lib.protect import plugin
from runbook_lib.protect.central import ApplyState, copy_region_for
from runbook_lib.protect.estate import DataResource
from runbook_lib.protect.model import MANUAL, NONE, UPDATE, Step, applier
from runbook_lib.protect.native import _step
from runbook_lib.session import AwsSession


def current(scope: Scope, domain: dict, found: Found) -> dict:
    hour = (domain.get("SnapshotOptions") or {}).get("AutomatedSnapshotStartHour")
    return {"current": {"snapshot_hour": hour}}


def plan(session: AwsSession, params: Params, res: DataResource, tier: Tier) -> list[Step]:
    cur = res.current["snapshot_hour"]
    other = copy_region_for(params, res.region, res.tier)
    manual = (
        [
            _step(
                res,
                "copy to another Region",
                "none",
                f"manual snapshots in an S3 repository in {other}",
                MANUAL,
                "manual",
                note="needs the domain's _snapshot REST API (a registered S3 repository), "
                "which boto3 does not reach; not done by this runbook",
            )
        ]
        if other
        else []
    )
    return manual + [
        _step(
            res,
            "automated snapshot start hour (UTC)",
            cur,
            cur if cur is not None else params.protect.backup_hour_utc,
            NONE if cur is not None else UPDATE,
            "opensearch_snapshot",
            {"hour": params.protect.backup_hour_utc},
            note="automated snapshots are kept 14 days by the service; longer retention needs a manual "
            "snapshot repository in S3 (not configured by this runbook)",
        )
    ]


@applier("opensearch_snapshot")
def _apply_opensearch(session: AwsSession, step: Step, state: ApplyState) -> int:
    session.client("opensearch", step.account, step.region).update_domain_config(
        DomainName=step.args["name"],
        SnapshotOptions={"AutomatedSnapshotStartHour": step.args["hour"]},
    )
    return step.args["hour"]


plugin.register(
    "opensearch",
    current=current,
    planner=plan,
    tagger=plugin.api_tagger("opensearch", "add_tags", ref="ARN", tags="TagList"),
)
plugin.not_called_on_sandbox(
    "protect",
    {
        "es:UpdateDomainConfig": "only when a domain has no automated snapshot hour (none in the "
        "demo estate)",
        "es:AddTags": "classification of an untagged OpenSearch domain (none in the demo estate)",
    },
)

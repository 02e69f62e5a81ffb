"""EBS's own audit control: encryption by default in every (account, Region) of the estate
(REL09-BP02), read once per scope (GetEbsEncryptionByDefault)."""

from __future__ import annotations

from collections.abc import Iterator

from runbook_lib.audit.controls import declared_in, manual, result, step
from runbook_lib.audit.evidence import Evidence, Unread, setting_read
from runbook_lib.audit.model import FAIL, NOT_SUPPORTED, PASS, Result

control = declared_in(__name__)  # the controls' metadata: controls.json beside this file
SETTING = "ebs_encryption_by_default"
STEP = "EBS encryption by default"  # protect's plan step (services/ebs/protect.py)


@setting_read(SETTING)
def read_encryption_by_default(session, ev: Evidence, account: str, region: str) -> bool:
    ec2 = session.client("ec2", account, region)
    return bool(ec2.get_ebs_encryption_by_default()["EbsEncryptionByDefault"])


@control("ebs_default_encryption_enabled")
def ebs_default_encryption_enabled(ev: Evidence) -> Iterator[Result]:
    """With encryption by default on, every new volume, and every snapshot and copy made
    of it, is encrypted whoever creates it; off, one forgotten flag leaves a volume and
    all its backups in clear."""
    expected = "EbsEncryptionByDefault = true"
    planned = _planned_scopes(ev)
    for (account, region), value in sorted(ev.settings.get(SETTING, {}).items()):
        row = {"account": account, "region": region, "service": "ebs"}
        row.update(arn=f"estate:{account}/{region}", name="EBS encryption by default")
        if isinstance(value, Unread):
            status = NOT_SUPPORTED if value.not_supported else FAIL
            yield result(
                row,
                status,
                f"could not be read: {value.why}",
                expected=expected,
                remediation=manual("grant ec2:GetEbsEncryptionByDefault, then run the audit again"),
            )
        elif value:
            yield result(row, PASS, "EbsEncryptionByDefault = true", expected=expected)
        else:
            yield result(
                row,
                FAIL,
                "EbsEncryptionByDefault = false",
                expected=expected,
                remediation=step(STEP)
                if (account, region) in planned
                else manual(
                    f"EnableEbsEncryptionByDefault in {account}/{region}: protect sets it only "
                    "in the workload accounts and where data resources are"
                ),
            )


def _planned_scopes(ev: Evidence) -> set[tuple[str, str]]:
    """Where protect plans encryption by default: every Region of the workload accounts
    (every account when none is marked), and any scope holding data resources."""
    accounts = ev.params.workload_accounts or ev.params.account_ids
    scopes = {(a, r) for a in accounts for r in ev.params.regions}
    r = ev.resources
    return scopes | (set(zip(r.account, r.region, strict=True)) if len(r) else set())

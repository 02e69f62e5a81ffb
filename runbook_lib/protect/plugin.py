"""How a service plugs into protect: its ``runbook_lib/services/<package>/protect.py`` fills
these registries when imported (``runbook_lib.services.load("protect")``, which
:func:`load` calls before the generic code reads them).

Keys are the inventory's ``service`` names (``ServiceSpec.name``) unless said otherwise:

- ``CURRENT[service](scope, listed item, Found) -> dict | None``: the settings protect
  compares (``current``) and, where protect needs them, ``id``/``encrypted``/``kms_key``;
  None leaves the resource out. A service without a reader is not protected.
- ``PLANNERS[service](session, params, resource, tier) -> list[Step]``: the service's own
  steps for one resource (the conformance test's "provides protect").
- ``REGION_PLANNERS[name](session, params, account, region, resources) -> list[Step]``:
  steps per (account, Region) of the estate, with the resources there (possibly none);
  ``name`` names the step family (e.g. ``"ebs_encryption_default"``).
- ``TAGGERS[service](session, step, tags) -> None``: adds ``tags`` to the resource
  (``step.args`` holds its ``name``, ``id`` and ``arn``), for the classification step.
- ``OWN_ENCRYPTION``: services whose planner plans encryption at rest and the key itself
  (the generic encryption / customer-managed key steps are skipped for them).
- ``VAULT_ENCRYPTED[service] -> label``: services whose AWS Backup backups are encrypted
  with the vault's key whatever the resource's key (named in the plan's notes).
- ``SANDBOX_CANNOT[applier kind] -> why``: writes the sandbox (moto) does not implement,
  known before trying; those steps are planned as ``not_supported`` on the sandbox.
- ``ROLE_TRUST[role] -> service principal`` and ``ROLE_ACTIONS[role] -> set of IAM
  actions``: the protect service roles (``central.ROLES``: ``backup``, ``replication``,
  ``scheduler``) and what each may do; a service adds what AWS Backup (or its own
  scheduled job) needs to act on its resources.
- ``IAM_EXCEPTIONS["<iam prefix>:<Operation>"] -> IAM action``: operations authorised by
  an action of another name (``protect.iam``).
- ``NOT_CALLED_ON_SANDBOX[policy][action] -> why``: write actions a policy in ``policies/``
  grants although the sandbox run does not call them.
- ``ON_DEMAND[name](ctx, resources, approve) -> DataFrame``: what a schedule would do,
  run now (``export_logs_now``).

Appliers (``@model.applier(kind)``) live beside the planners that make their steps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from runbook_lib.inventory.model import Found, Scope
    from runbook_lib.params import Params, Tier
    from runbook_lib.protect.estate import DataResource
    from runbook_lib.protect.model import Step
    from runbook_lib.session import AwsSession

Reader = Callable[["Scope", Any, "Found"], "dict | None"]
Planner = Callable[["AwsSession", "Params", "DataResource", "Tier"], "list[Step]"]
RegionPlanner = Callable[["AwsSession", "Params", str, str, "list[DataResource]"], "list[Step]"]
Tagger = Callable[["AwsSession", "Step", dict[str, str]], None]
OnDemand = Callable[[Any, "list[DataResource]", bool], "pd.DataFrame"]

CURRENT: dict[str, Reader] = {}
PLANNERS: dict[str, Planner] = {}
REGION_PLANNERS: dict[str, RegionPlanner] = {}
TAGGERS: dict[str, Tagger] = {}
OWN_ENCRYPTION: set[str] = set()
VAULT_ENCRYPTED: dict[str, str] = {}
SANDBOX_CANNOT: dict[str, str] = {}
ROLE_TRUST: dict[str, str] = {}
ROLE_ACTIONS: dict[str, set[str]] = {}
IAM_EXCEPTIONS: dict[str, str] = {}
NOT_CALLED_ON_SANDBOX: dict[str, dict[str, str]] = {}
ON_DEMAND: dict[str, OnDemand] = {}


def register(
    service: str,
    *,
    current: Reader,
    planner: Planner,
    tagger: Tagger,
    own_encryption: bool = False,
    vault_encrypted: str = "",
) -> None:
    """Register one inventory service's protect plug-ins."""
    CURRENT[service] = current
    PLANNERS[service] = planner
    TAGGERS[service] = tagger
    if own_encryption:
        OWN_ENCRYPTION.add(service)
    if vault_encrypted:
        VAULT_ENCRYPTED[service] = vault_encrypted


def api_tagger(
    client: str, method: str, *, ref: str, arg: str = "arn", tags: str = "Tags", listed: bool = True
) -> Tagger:
    """A tagger that is one API call, declared rather than written:
    ``client.method(<ref>=step.args[arg], <tags>=the tags)``; ``listed`` sends the tags as
    ``[{"Key": .., "Value": ..}]`` (most APIs), otherwise as a dict. A ``ref`` ending in ``[]``
    sends the reference as a one-item list (EC2's ``Resources``)."""
    from runbook_lib.inventory.model import tag_list

    def tag(session: AwsSession, step: Step, values: dict[str, str]) -> None:
        name, one = ref.removesuffix("[]"), step.args[arg]
        call = getattr(session.client(client, step.account, step.region), method)
        call(
            **{name: [one] if ref.endswith("[]") else one},
            **{tags: tag_list(values) if listed else values},
        )

    return tag


def role_actions(role: str, *actions: str) -> None:
    """Let protect's ``role`` service role call ``actions``."""
    ROLE_ACTIONS.setdefault(role, set()).update(actions)


def not_called_on_sandbox(policy: str, reasons: dict[str, str]) -> None:
    """Write actions ``policy`` grants that the sandbox run does not call, and why."""
    NOT_CALLED_ON_SANDBOX.setdefault(policy, {}).update(reasons)


def load() -> None:
    """Import every service's protect module (once), filling the registries above."""
    from runbook_lib.services import load as load_capability

    load_capability("protect")

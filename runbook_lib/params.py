"""Parameter files: one validated model for every runbook.

A parameter file names the estate (target, accounts, Regions), the objectives per tier,
the tag keys, and where the ledger and the run archive live. ``load_params`` turns a
file (or a name such as ``sandbox``, looked up in the project's ``params/`` folder) into
a :class:`Params`, or raises one :class:`~runbook_lib.errors.ParamsError` that lists
every problem with its field path and what is allowed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StrictBool,
    ValidationError,
    model_validator,
)

from runbook_lib.errors import ParamsError

PROJECT_ROOT = Path(__file__).resolve().parents[1]  # the checkout; see package_data

# --------------------------------------------------------------------------- durations

_DURATION_RE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
MAX_DURATION = timedelta(days=36500)  # a century: longer is a typo
DURATION_HELP = "a whole number and a unit (s, m, h, d, w), e.g. 15m, 4h, 35d"


def parse_duration(value: Any) -> timedelta:
    """``'15m'`` -> 15 minutes. Accepts a timedelta as is. Raises ValueError otherwise."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str):
        m = _DURATION_RE.match(value)
        if m and int(m.group(1)) > 0:
            try:
                td = timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
            except OverflowError:
                td = None
            if td is not None and td <= MAX_DURATION:
                return td
            raise ValueError(f"{value!r} is too long; at most {MAX_DURATION.days} days")
    raise ValueError(f"{value!r} is not a duration; use {DURATION_HELP}")


def format_duration(td: timedelta) -> str:
    """The shortest exact form: 900 s -> '15m', 35 days -> '35d'."""
    secs = int(td.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if secs % size == 0 and secs >= size:
            return f"{secs // size}{unit}"
    return f"{secs}s"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
]

# --------------------------------------------------------------------------- AWS names


@cache
def known_regions() -> frozenset[str]:
    """Every Region botocore knows, in every partition (no AWS call)."""
    import botocore.session

    s = botocore.session.get_session()
    regions: set[str] = set()
    for partition in s.get_available_partitions():
        for service in ("ec2", "s3", "dynamodb", "backup"):
            regions.update(s.get_available_regions(service, partition_name=partition))
    return frozenset(regions)


def _check_region(value: Any) -> str:
    if isinstance(value, str) and value in known_regions():
        return value
    examples = ", ".join(
        [r for r in sorted(known_regions()) if "-iso" not in r and "gov" not in r][:8]
    )
    raise ValueError(
        f"{value!r} is not an AWS Region name; allowed: Region codes such as {examples}"
    )


def _check_account(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML reads an unquoted 012345670123 as an octal number (001402433619): never guess
        raise ValueError(
            f"{value} was read as a number, not an account id; write it in quotes as it "
            "appears in AWS, e.g. '012345670123'"
        )
    if isinstance(value, str) and re.fullmatch(r"\d{12}", value):
        return value
    raise ValueError(
        f"{value!r} is not an AWS account id; use 12 digits in quotes, e.g. '123456789012'"
    )


def _matching(regex: re.Pattern[str], refusal: str) -> Callable[[Any], str]:
    """A validator passing the strings ``regex`` matches; anything else is refused with its
    first 100 characters and ``refusal``."""

    def check(value: Any) -> str:
        if isinstance(value, str) and regex.match(value):
            return value
        raise ValueError(f"{str(value)[:100]!r} {refusal}")

    return check


_ARN_RE = re.compile(r"^arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:(\d{12})?:.+$")
_check_arn = _matching(
    _ARN_RE,
    "is not an ARN; use arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE, "
    "e.g. arn:aws:iam::123456789012:role/backup-runbook",
)
_check_role_arn = _matching(
    re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}$"),
    "is not an IAM role ARN; use arn:aws:iam::ACCOUNT:role/NAME "
    "(users, groups and other resources cannot be assumed)",
)


Region = Annotated[str, BeforeValidator(_check_region)]
AccountId = Annotated[str, BeforeValidator(_check_account)]
Arn = Annotated[str, BeforeValidator(_check_arn)]
RoleArn = Annotated[str, BeforeValidator(_check_role_arn)]
_TOPIC_ARN_RE = re.compile(
    r"^arn:aws[a-z-]*:sns:([a-z0-9-]+):\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$"
)


def _check_topic_arn(value: Any) -> str:
    """An SNS topic ARN in a known Region, or empty (no notifications)."""
    if value in ("", None):
        return ""
    m = _TOPIC_ARN_RE.match(value) if isinstance(value, str) else None
    if m and m.group(1) in known_regions():
        return value
    raise ValueError(
        f"{str(value)[:100]!r} is not an SNS topic ARN; use arn:aws:sns:REGION:ACCOUNT:TOPIC "
        "(a Region code, 12 digits, a topic name of letters, digits, '-' or '_'), or leave it "
        "empty for no notifications"
    )


TopicArn = Annotated[str, BeforeValidator(_check_topic_arn)]


def _check_tier_name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or value != value.strip():
        raise ValueError(
            f"tier name {str(value)[:60]!r}: give a non-empty name without surrounding spaces "
            "(it is the value of the tier tag)"
        )
    if len(value) > 256:
        raise ValueError("tier name: at most 256 characters (a tag value)")
    return value


TierName = Annotated[str, BeforeValidator(_check_tier_name)]


def _check_tag_key(value: str) -> str:
    if not 1 <= len(value) <= 128 or value.lower().startswith("aws:"):
        raise ValueError(
            f"{value!r} is not a usable tag key; 1-128 characters, not starting 'aws:'"
        )
    return value


TagKey = Annotated[str, AfterValidator(_check_tag_key)]

# --------------------------------------------------------------------------- the model


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Target(_Model):
    """Where the runbooks run: the embedded sandbox (moto) or real AWS."""

    kind: Literal["sandbox", "aws"] = "sandbox"
    profile: str | None = None  # AWS: named profile for the starting credentials
    role_name: str | None = None  # assumed in every account that has no role_arn of its own
    external_id: str | None = None
    endpoint_url: str | None = None  # sandbox: a running server; empty -> in-process
    seed: int = 7  # sandbox: seed of the demo estate
    max_workers: int = Field(16, ge=1, le=64)  # calls in flight per pool (see docs/inventory.md)


class Account(_Model):
    id: AccountId
    name: str = Field(min_length=1)
    role_arn: RoleArn | None = None
    kind: Literal["workload", "backup"] = "workload"


class Tier(_Model):
    """The objectives of one tier (``backup-tier=<name>`` on a resource)."""

    rpo: Duration
    rto: Duration
    retention: Duration
    restore_test_every: Duration
    copy_region: Region | None = None
    copy_account: AccountId | None = None
    require_cmk: bool = False
    cold_storage_after: Duration | None = None
    #: the tier's databases and tables must have deletion protection on (audit control
    #: ``resource_deletion_protection``); off by default, so verdicts change only on request
    deletion_protection: StrictBool = False
    #: the tier's S3 data must be immutable: Object Lock (default retention at least the
    #: tier's retention) and MFA delete on its buckets (audit controls
    #: ``s3_object_lock_when_immutable``, ``s3_mfa_delete_when_immutable``); off by default
    immutable: StrictBool = False
    #: a copy in a logically air-gapped AWS Backup vault no older than this (audit control
    #: ``resource_in_air_gapped_vault``, AWS Backup Audit Manager's recoveryPointAge); unset:
    #: not asked
    air_gapped_copy: Duration | None = None


class TagKeys(_Model):
    tier: TagKey = "backup-tier"
    reproducible: TagKey = "reproducible-from"
    restore_test: TagKey = "restore-test"
    expires: TagKey = "restore-test-expires"
    #: a database's tag naming the Secrets Manager secret to log in with (when RDS does not
    #: manage its master password)
    db_secret: TagKey = "db-secret"


class VaultLock(_Model):
    """AWS Backup Vault Lock. ``compliance`` becomes immutable after ``changeable_for``."""

    mode: Literal["governance", "compliance"] = "governance"
    min_retention: Duration
    max_retention: Duration | None = None
    changeable_for: Duration = timedelta(days=3)  # compliance only: the grace period

    @model_validator(mode="after")
    def _min_below_max(self) -> VaultLock:
        if self.max_retention is not None and self.min_retention > self.max_retention:
            raise ValueError(
                f"min_retention {format_duration(self.min_retention)} is above max_retention "
                f"{format_duration(self.max_retention)}"
            )
        return self


_VAULT_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{2,50}$")


def _check_vault_name(value: str) -> str:
    if not _VAULT_NAME_RE.match(value):
        raise ValueError(f"{value!r} is not a backup vault name; 2-50 letters, digits, '-' or '_'")
    return value


class Protect(_Model):
    """How the protect runbook builds the desired state (all optional)."""

    vault_name: Annotated[str, AfterValidator(_check_vault_name)] = "runbook-central"
    key_alias: str = Field("alias/runbook-backup", pattern=r"^alias/[A-Za-z0-9/_-]{1,250}$")
    plan_prefix: Annotated[str, AfterValidator(_check_vault_name)] = "runbook"
    break_glass_roles: list[RoleArn] = []
    vault_lock: VaultLock | None = None
    allow_weakening: bool = False
    tag_untagged: bool = False  # tag unclassified resources with default_tier
    backup_role_name: str = "runbook-backup-service"
    replication_role_name: str = "runbook-s3-replication"
    scheduler_role_name: str = "runbook-log-export"
    export_logs_bucket: str = Field("runbook-log-archive-{account}-{region}", min_length=3)
    backup_hour_utc: int = Field(5, ge=0, le=23)  # when daily backups start


class ArchiveLock(_Model):
    """S3 Object Lock on every object of an ``s3://`` run archive (the bucket must have
    Object Lock enabled). ``compliance``: nobody can delete or shorten it before it ends."""

    mode: Literal["governance", "compliance"] = "governance"
    days: int = Field(ge=1, le=36500)


class Params(_Model):
    name: str = Field(min_length=1)
    target: Target = Target()
    accounts: list[Account] = Field(min_length=1)
    regions: list[Region] = Field(min_length=1)
    tiers: dict[TierName, Tier] = Field(min_length=1)
    default_tier: str
    tag_keys: TagKeys = TagKeys()
    protect: Protect = Protect()
    ledger: str = Field("runs/ledger", min_length=1, pattern=r"\S")  # folder or s3://bucket/prefix
    run_archive: str = Field("runs", min_length=1, pattern=r"\S")
    run_archive_lock: ArchiveLock | None = None  # s3:// run_archive only
    #: scheduled runs that fail or whose evidence is red publish one message here (the
    #: scheduler: runbook_lib/notify.py); empty: no notifications
    notify_topic_arn: TopicArn = ""
    source: str = Field("<dict>", exclude=True)  # the file it came from (not in the file)

    @model_validator(mode="after")
    def _cross_checks(self) -> Params:
        problems: list[str] = []
        if self.default_tier not in self.tiers:
            problems.append(
                f"default_tier: {self.default_tier!r} is not a tier; allowed: {sorted(self.tiers)}"
            )
        ids = [a.id for a in self.accounts]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            problems.append(f"accounts: account ids listed twice: {dupes}")
        if len(set(self.regions)) != len(self.regions):
            problems.append("regions: a Region is listed twice")
        for name, tier in self.tiers.items():
            if tier.copy_account and tier.copy_account not in ids:
                problems.append(
                    f"tiers.{name}.copy_account: {tier.copy_account!r} is not one of accounts[].id"
                )
        if self.run_archive_lock and not self.run_archive.startswith("s3://"):
            problems.append(
                f"run_archive_lock: applies to an s3:// run_archive only; run_archive is "
                f"{self.run_archive!r} (remove run_archive_lock, or archive to s3://bucket/prefix)"
            )
        if self.target.kind == "aws":
            no_role = [a.id for a in self.accounts if not a.role_arn]
            if no_role and not self.target.role_name and len(self.accounts) > 1:
                problems.append(
                    "target.role_name: required when accounts have no role_arn "
                    f"(accounts without a role: {no_role})"
                )
        if problems:
            raise ValueError("\n".join(problems))
        return self

    # ---- convenience
    @property
    def account_ids(self) -> list[str]:
        return [a.id for a in self.accounts]

    @property
    def backup_account(self) -> str | None:
        return next((a.id for a in self.accounts if a.kind == "backup"), None)

    @property
    def workload_accounts(self) -> list[str]:
        return [a.id for a in self.accounts if a.kind == "workload"]

    def tier(self, name: str | None) -> Tier:
        return self.tiers.get(name or self.default_tier) or self.tiers[self.default_tier]

    def resolve_path(self, value: str) -> str:
        """Local relative paths are relative to the parameter file's folder, except for a
        template shipped inside the installed package: there, as if the working directory
        were the project's root (``../runs/ledger`` -> ``./runs/ledger``)."""
        from runbook_lib.package_data import is_shipped

        if value.startswith("s3://") or os.path.isabs(value) or self.source == "<dict>":
            return value
        if is_shipped(Path(self.source)):
            return str((Path.cwd() / "params" / value).resolve())
        return str((Path(self.source).parent / value).resolve())


# --------------------------------------------------------------------------- loading


def params_dir() -> Path:
    from runbook_lib.package_data import data_dir

    return Path(os.environ.get("RUNBOOK_PARAMS_DIR") or data_dir("params"))


def find_params_file(name_or_path: str | os.PathLike) -> Path:
    """A path to a YAML file, or a bare name (``sandbox``) in the params folder."""
    p = Path(name_or_path)
    candidates = [p] if p.suffix in (".yaml", ".yml") else []
    candidates += [params_dir() / f"{p.name}.yaml", params_dir() / p.name]
    for c in candidates:
        if c.is_file():
            return c
    available = sorted(f.stem for f in params_dir().glob("*.yaml"))
    raise ParamsError(
        str(name_or_path),
        [f"no such parameter file; give a path to a .yaml file or one of {available}"],
    )


def _format_loc(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).startswith(("function-", "constrained-")):
            continue
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _problems(err: ValidationError, model: type[BaseModel]) -> list[str]:
    problems = []
    for e in err.errors():
        loc = _format_loc(tuple(p for p in e["loc"] if p not in ("timedelta", "str", "int")))
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            msg = f"unknown field {loc.split('.')[-1]!r}"
            allowed = _allowed_fields(model, e["loc"][:-1])
            if allowed:
                msg += f"; allowed here: {', '.join(allowed)}"
        elif e["type"] == "missing":
            msg = "required field is missing"
        if e["type"] == "value_error" and loc == "(top level)":
            problems.extend(msg.split("\n"))  # cross-field checks name their own fields
        else:
            problems.append(f"{loc}: {msg}")
    return problems


def _allowed_fields(model: type[BaseModel], loc: tuple) -> list[str]:
    """The field names allowed at ``loc`` (for an 'unknown field' message)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", {})
        if part in fields:  # otherwise a key of dict[str, Model]: stay on Model
            current = _inner_model(fields[part].annotation)
    return sorted(k for k in getattr(current, "model_fields", {}) if k != "source")


def _inner_model(annotation: Any) -> Any:
    """Tier for dict[str, Tier], Account for list[Account], Target for Target."""
    import typing

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None


def validate_params(data: Any, source: str = "<dict>") -> Params:
    """Validate a mapping; raise ParamsError listing every problem."""
    if not isinstance(data, dict):
        raise ParamsError(
            source, [f"(top level): expected a mapping of fields, got {type(data).__name__}"]
        )
    try:
        return Params.model_validate({**data, "source": source})
    except ValidationError as err:
        raise ParamsError(source, _problems(err, Params)) from None


MAX_FILE_BYTES = 1_000_000  # a parameter file is a page of YAML, not a data set
MAX_DEPTH = 32  # nesting levels
MAX_ALIASES = 100  # YAML aliases (*name)
MAX_NODES = 100_000  # values after aliases are expanded


class _TooBig(Exception):
    pass


class _BoundedLoader(yaml.SafeLoader):
    """safe_load with bounds (depth, aliases) and duplicate keys refused."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise _TooBig(f"more than {MAX_ALIASES} YAML aliases")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _TooBig(f"nested deeper than {MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str | int | float | bool) and key in seen:
                mark = key_node.start_mark
                raise _TooBig(f"key {str(key)[:60]!r} given twice (line {mark.line + 1})")
            seen.add(key) if isinstance(key, str | int | float | bool) else None
        return super().construct_mapping(node, deep=deep)


def _count_nodes(data: Any) -> int:
    """Values in ``data`` with aliases expanded, counting stops past MAX_NODES."""
    stack, count = [data], 0
    while stack and count <= MAX_NODES:
        item = stack.pop()
        count += 1
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return count


def read_yaml(path: Path) -> Any:
    """A YAML file read with bounds; ParamsError (one line) for anything unreadable."""
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ParamsError(str(path), [f"(file): {size} bytes; at most {MAX_FILE_BYTES}"])
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise ParamsError(
            str(path),
            [f"(file): not UTF-8 text (byte {err.object[err.start]:#04x} at offset {err.start})"],
        ) from None
    try:
        data = yaml.load(text, Loader=_BoundedLoader)  # noqa: S506 - a SafeLoader subclass
    except _TooBig as err:
        raise ParamsError(str(path), [f"(file): {err}"]) from None
    except RecursionError:
        raise ParamsError(str(path), [f"(file): nested deeper than {MAX_DEPTH} levels"]) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = str(getattr(err, "problem", None) or err).splitlines()[0][:200]
        raise ParamsError(str(path), [f"(file): not valid YAML{where}: {problem}"]) from None
    if _count_nodes(data) > MAX_NODES:
        raise ParamsError(
            str(path), [f"(file): more than {MAX_NODES} values once aliases are expanded"]
        )
    return data


def load_params(name_or_path: str | os.PathLike = "sandbox", **overrides: Any) -> Params:
    """Load and validate a parameter file; ``overrides`` replace top-level fields."""
    path = find_params_file(name_or_path)
    data = read_yaml(path)
    if isinstance(data, dict):
        data.update({k: v for k, v in overrides.items() if v not in (None, "")})
    return validate_params(data, source=str(path))

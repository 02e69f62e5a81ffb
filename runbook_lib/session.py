"""The one session layer every AWS call goes through.

``AwsSession(params)`` builds boto3 clients for an (account, Region): the starting
credentials (a profile on AWS, fixed fake keys on the sandbox), a role assumed per
account (refreshed before it expires), the sandbox endpoint, adaptive retries, and a
thread-safe counter of API calls by service and operation that tests and benchmarks read.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import RefreshableCredentials
from botocore.exceptions import BotoCoreError, ClientError

from runbook_lib import clock
from runbook_lib.errors import AccessError
from runbook_lib.params import Params

SANDBOX_CREDENTIALS = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
    "aws_session_token": "testing",
}
SANDBOX_ROLE_NAME = "BackupRunbookRole"
log = logging.getLogger("runbook_lib")


class CallCounter:
    """API calls made, by (service, operation). Safe to share between threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()

    def add(self, service: str, operation: str) -> None:
        with self._lock:
            self._counts[(service, operation)] += 1

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    def snapshot(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self._counts)

    def operations(self) -> set[str]:
        """``{'dynamodb:Scan', ...}`` in IAM action form."""
        return {f"{svc}:{op}" for svc, op in self.snapshot()}

    def by_service(self) -> dict[str, int]:
        out: Counter[str] = Counter()
        for (svc, _op), n in self.snapshot().items():
            out[svc] += n
        return dict(out)

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()

    def frame(self):
        import pandas as pd

        rows = [{"service": s, "operation": o, "calls": n} for (s, o), n in self.snapshot().items()]
        return pd.DataFrame(rows, columns=["service", "operation", "calls"]).sort_values(
            ["service", "operation"], ignore_index=True
        )


class AwsSession:
    """Clients for every (account, Region) of the estate the params name."""

    def __init__(
        self,
        params: Params,
        *,
        endpoint_url: str | None = None,
        counter: CallCounter | None = None,
        latency: float = 0.0,
    ) -> None:
        self.params = params
        self.counter = counter or CallCounter()
        self.latency = latency  # seconds slept before each HTTP request (benchmarks only)
        self.endpoint_url = endpoint_url or params.target.endpoint_url
        if params.target.kind == "sandbox" and not self.endpoint_url:
            from runbook_lib.targets import sandbox

            self.endpoint_url = sandbox().ensure_sandbox(params)
        self._lock = threading.RLock()
        self._clients: dict[tuple[str, str, str], Any] = {}
        self._sessions: dict[str, boto3.Session] = {}
        self._base = self._base_session()
        pool = max(10, params.target.max_workers * 2)
        self.config = Config(
            retries={"mode": "adaptive", "max_attempts": 8},
            max_pool_connections=pool,
            connect_timeout=10,
            read_timeout=60,
            s3={"addressing_style": "path"} if self.sandbox else None,
        )

    @property
    def sandbox(self) -> bool:
        return self.params.target.kind == "sandbox"

    # ----------------------------------------------------------------- credentials
    def _base_session(self) -> boto3.Session:
        if self.sandbox:
            return boto3.Session(**SANDBOX_CREDENTIALS, region_name=self.params.regions[0])
        profile = self.params.target.profile
        try:
            return boto3.Session(profile_name=profile)
        except botocore.exceptions.ProfileNotFound:
            known = boto3.Session().available_profiles
            raise AccessError(
                f"target.profile: profile {profile!r} is not in the AWS config files; "
                f"allowed: {', '.join(sorted(known)[:20]) or 'none configured (run `aws configure sso`)'}"
            ) from None

    def check_access(self) -> str:
        """One STS GetCallerIdentity with the starting credentials, before any other call;
        an AccessError that says what failed and what to do. Returns the caller's ARN."""
        exc = botocore.exceptions
        profile = self.params.target.profile
        login = f"aws sso login --profile {profile}" if profile else "aws sso login"
        try:  # credentials are resolved when the client is made: inside the try
            return self._base_sts().get_caller_identity()["Arn"]
        except (exc.SSOTokenLoadError, exc.UnauthorizedSSOTokenError, exc.TokenRetrievalError):
            raise AccessError(
                f"AWS SSO: no valid sign-in for profile {profile or '(default)'}; run `{login}`, then run again"
            ) from None
        except exc.NoCredentialsError:
            raise AccessError(
                "no AWS credentials found: set target.profile to a profile in ~/.aws/config "
                "(or export AWS_PROFILE), sign in (`aws sso login --profile NAME` for SSO), then run again"
            ) from None
        except (exc.EndpointConnectionError, exc.ConnectTimeoutError, exc.ReadTimeoutError) as err:
            raise AccessError(
                f"cannot reach AWS STS ({err}); check the network, proxy settings and "
                "target.endpoint_url"
            ) from None
        except ClientError as err:
            code = err.response.get("Error", {}).get("Code", "")
            advice = (
                f"the credentials have expired; sign in again (`{login}`)"
                if "Expired" in code
                else "check the credentials of the profile"
            )
            raise AccessError(f"AWS refused the starting credentials ({code}): {advice}") from None
        except BotoCoreError as err:
            raise AccessError(f"AWS credentials could not be used: {err}") from None

    def sync_clock(self) -> timedelta:
        """Read the target's time from the ``Date`` header of one STS GetCallerIdentity
        answer and make :func:`utcnow` follow it (a sandbox's clock may have been moved
        days ahead; AWS's is the one its timestamps are in). Returns the offset from this
        machine's clock; when the time cannot be read, this machine's clock stays in use
        and the log says why."""
        where = self.endpoint_url or "AWS"
        try:
            sent = datetime.now(UTC)
            answer = self._base_sts().get_caller_identity()
            received = datetime.now(UTC)
            date = answer.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
            if not date:
                raise ValueError("the answer carried no Date header")
            delta = clock.offset_from_date(date, sent, received)
        except (ClientError, BotoCoreError, ValueError) as err:
            why = f"this machine's clock: the time of {where} could not be read ({err})"
            log.warning("clock: %s", why)
            clock.set_offset(timedelta(0), why)
            return timedelta(0)
        clock.set_offset(delta, f"the Date header of {where} (offset {delta})")
        return delta

    def role_arn(self, account: str) -> str | None:
        acct = next((a for a in self.params.accounts if a.id == account), None)
        if acct and acct.role_arn:
            return acct.role_arn
        name = self.params.target.role_name or (SANDBOX_ROLE_NAME if self.sandbox else None)
        return f"arn:aws:iam::{account}:role/{name}" if name else None

    def session_for(self, account: str) -> boto3.Session:
        """A boto3 Session whose credentials act in ``account`` (assumed role, refreshed)."""
        with self._lock:
            if account in self._sessions:
                return self._sessions[account]
            role = self.role_arn(account)
            if role is None:  # one account, no role: the starting credentials are it
                session = self._base
            else:
                session = self._assumed_session(account, role)
            self._sessions[account] = session
            return session

    def _base_sts(self) -> Any:
        """An STS client with the starting credentials (counted like every client)."""
        sts = self._base.client(
            "sts",
            endpoint_url=self.endpoint_url,
            config=self.config,
            region_name=self.params.regions[0],
        )
        self._instrument(sts, "sts")
        return sts

    def _assumed_session(self, account: str, role: str) -> boto3.Session:
        sts = self._base_sts()

        def refresh() -> dict[str, str]:
            kwargs: dict[str, Any] = {"RoleArn": role, "RoleSessionName": "backup-runbook"}
            if self.params.target.external_id:
                kwargs["ExternalId"] = self.params.target.external_id
            try:
                c = sts.assume_role(**kwargs)["Credentials"]
            except (ClientError, BotoCoreError) as err:
                raise AccessError(
                    f"account {account}: cannot assume role {role}: {err}. Check the role exists, "
                    "trusts the caller, and that accounts[].role_arn / target.role_name are right."
                ) from err
            return {
                "access_key": c["AccessKeyId"],
                "secret_key": c["SecretAccessKey"],
                "token": c["SessionToken"],
                "expiry_time": _iso(c["Expiration"]),
            }

        creds = RefreshableCredentials.create_from_metadata(
            metadata=refresh(), refresh_using=refresh, method="sts-assume-role"
        )
        core = botocore.session.get_session()
        core._credentials = creds  # the documented way boto3's own assume-role provider works
        return boto3.Session(botocore_session=core, region_name=self.params.regions[0])

    # ----------------------------------------------------------------- clients
    def client(self, service: str, account: str | None = None, region: str | None = None):
        """A cached client; boto3 clients are thread-safe once built."""
        account = account or self.params.accounts[0].id
        region = region or self.params.regions[0]
        key = (service, account, region)
        with self._lock:
            cl = self._clients.get(key)
            if cl is None:
                cl = self.session_for(account).client(
                    service, region_name=region, endpoint_url=self.endpoint_url, config=self.config
                )
                self._instrument(cl, service)
                self._clients[key] = cl
            return cl

    def _instrument(self, client: Any, service: str) -> None:
        prefix = client.meta.service_model.signing_name or service

        def count(model: Any = None, **_: Any) -> None:
            self.counter.add(prefix, model.name)

        client.meta.events.register("before-call", count)
        if self.latency:

            def sleep(**_: Any) -> None:
                time.sleep(self.latency)

            client.meta.events.register("before-send", sleep)
        if self.sandbox and service == "s3control":

            def strip_account_host(request: Any = None, **_: Any) -> None:
                # botocore prefixes the account id to the host, which a local server lacks
                for acct in self.params.account_ids:
                    request.url = request.url.replace(f"//{acct}.", "//")

            client.meta.events.register("before-send", strip_account_host)

    def scopes(self, accounts: list[str] | None = None) -> Iterator[tuple[str, str]]:
        """Every (account, Region) of the estate."""
        for account in accounts or self.params.account_ids:
            for region in self.params.regions:
                yield account, region


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return str(value)


def utcnow() -> datetime:
    """Now, in UTC, by the target's clock once ``AwsSession.sync_clock`` has read it
    (:mod:`runbook_lib.clock`; one place, so tests can reason about time)."""
    return clock.utcnow()


def is_not_supported(err: Exception) -> bool:
    """True for the shapes an unimplemented API takes on the sandbox (and on AWS: a
    service not offered in a Region). See MOTO notes: 404/500 HTML, NotImplementedError."""
    if isinstance(err, NotImplementedError):
        return True
    if isinstance(err, ClientError):
        code = err.response.get("Error", {}).get("Code", "")
        msg = str(err.response.get("Error", {}).get("Message", ""))
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return code in ("404", "500", "NotImplemented", "UnknownOperationException") or (
            status in (404, 500)
            and ("not yet implemented" in msg.lower() or "<html" in msg.lower())
        )
    from botocore.parsers import ResponseParserError

    return isinstance(err, ResponseParserError)


__all__ = ["AwsSession", "CallCounter", "utcnow", "is_not_supported"]

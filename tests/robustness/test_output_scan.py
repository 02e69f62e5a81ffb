"""Every file a run writes is scanned: no secret planted in the data appears anywhere, and
no markup planted in names and tags appears unescaped in an HTML report.

The estate gets recognisable fake secrets in its data (a DynamoDB item, an S3 object: what
a restore test reads) and markup payloads in tag values and names (what the inventory and
the audit show). Then the runbooks run as a user runs them (papermill, HTML copies, the
ledger), and every output file is read back."""

from __future__ import annotations

import os
from pathlib import Path

from runbook_lib.params import load_params
from runbook_lib.runner import run_notebooks
from runbook_lib.session import AwsSession
from runbook_sandbox import ENV_URL

ACCOUNT, REGION = "111111111111", "eu-west-1"
SECRETS = (
    "AKIAQ7FAKEFAKEFAKE42",  # an access key id shape
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYFAKESECRET9",  # a secret access key shape
    "-----BEGIN RSA PRIVATE KEY-----MIIfakefakefake",
    "hunter2-canary-password-7f3a",
)
PAYLOADS = (
    '<script>alert("runbook")</script>',
    "<img src=x onerror=alert(1)>",
)


def _client(service: str, url: str):
    return AwsSession(load_params("sandbox"), endpoint_url=url).client(service, ACCOUNT, REGION)


def _plant(url: str) -> None:
    ddb = _client("dynamodb", url)
    for i, secret in enumerate(SECRETS):  # the demo's table: restore tests read it
        ddb.put_item(
            TableName="orders",
            Item={"pk": {"S": f"secret-{i}"}, "sk": {"S": "x"}, "password": {"S": secret}},
        )
    s3 = _client("s3", url)
    bucket = s3.list_buckets()["Buckets"][0]["Name"]
    s3.put_object(Bucket=bucket, Key="config/credentials", Body="\n".join(SECRETS).encode())
    arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/orders"
    ddb.tag_resource(
        ResourceArn=arn,
        Tags=[{"Key": "owner", "Value": PAYLOADS[0]}, {"Key": "note", "Value": PAYLOADS[1]}],
    )
    ddb.create_table(
        TableName="x-onerror-alert-1",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        Tags=[{"Key": "Name", "Value": PAYLOADS[1]}, {"Key": "backup-tier", "Value": PAYLOADS[0]}],
    )


def test_no_secret_and_no_unescaped_markup_in_any_output(fresh_sandbox, tmp_path):
    url = os.environ[ENV_URL]
    _plant(url)
    ledger = tmp_path / "ledger"
    result = run_notebooks(
        "sandbox",
        ["inventory", "backup_now", "restore_test", "audit"],
        str(tmp_path / "runs"),
        {
            "ledger_location": str(ledger),
            "approve": True,  # backup_now takes the backups the restore tests then read
            "mode": "arns",
            "arns": [f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/orders"],
        },
        stop_on_error=False,
    )
    files = [p for p in Path(tmp_path).rglob("*") if p.is_file()]
    assert len(files) > 10 and result.notebooks
    html = [p for p in files if p.suffix == ".html"]
    assert len(html) == 4, [p.name for p in html]
    leaks, unescaped = [], []
    for path in files:
        data = path.read_bytes()
        leaks += [(path.name, s) for s in SECRETS if s.encode() in data]
        if path.suffix == ".html":
            unescaped += [(path.name, p) for p in PAYLOADS if p.encode() in data]
    print(
        f"\noutput scan: {len(files)} files ({len(html)} HTML), "
        f"{len(SECRETS)} planted secrets, {len(PAYLOADS)} markup payloads; "
        f"secrets found: {len(leaks)}, unescaped payloads: {len(unescaped)}"
    )
    assert not leaks, leaks
    assert not unescaped, unescaped
    # the ledger the runs wrote is read by the documented external read, table by table
    import pandas as pd

    from runbook_lib.ledger_schema import SCHEMA

    tables = sorted(d.name for d in ledger.iterdir() if d.is_dir() and d.name in SCHEMA)
    assert {"inventory", "backups", "restore_tests", "findings", "intents"} <= set(tables)
    for table in tables:
        assert len(pd.read_parquet(ledger / table)) > 0, table
    # the payloads were shown (escaped): the scan looked at pages that name them
    shown = b"".join(p.read_bytes() for p in html)
    assert b"&lt;script&gt;" in shown or b"\\u003cscript" in shown

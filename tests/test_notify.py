"""Notifications of scheduled runs, on the sandbox (moto SNS) through an SQS queue subscribed
to the topic: a red run publishes one message saying what failed and where the evidence is;
a green run publishes nothing; a publish that fails keeps the run's result and says so.

The runbooks here are tiny notebooks in a temporary folder that write restore-test rows to
the ledger, so the red evidence is judged by the real runner from real ledger rows; the
estate is its own (another account and Region, odd names), on an empty sandbox server."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import nbformat
import pytest
import yaml

from runbook_lib.errors import ParamsError
from runbook_lib.params import load_params, validate_params
from runbook_lib.schedule import Job, Schedule, history_file, report, run_due
from runbook_lib.session import AwsSession

ACCOUNT, REGION = "210987654321", "eu-north-1"
TOPIC = "rb-alerts_7"
RED_ROWS = [
    {"resource_name": "orders_ü-tbl", "tier": "t-1", "status": "FAIL", "rto_met": False,
     "rpo_met": True, "verdict_detail": "restore + validation took 3h, over the t-1 RTO of 2h"},
    {"resource_name": "Odd.Bucket-9", "tier": "t-1", "status": "FAIL", "rto_met": True,
     "rpo_met": True, "verdict_detail": "fingerprint: 41 records, expected 42"},
    {"resource_name": "vol-0abc", "tier": "t-1", "status": "PASS", "rto_met": True,
     "rpo_met": True, "verdict_detail": "fingerprint matched"},
]  # fmt: skip
WRITE_ROWS = """from runbook_lib.ledger import Ledger
from runbook_lib.params import load_params
p = load_params(params_file)
Ledger(p.resolve_path(p.ledger)).append("restore_tests", ROWS, run_id)"""


@pytest.fixture(scope="module")
def sandbox_url():
    """An empty sandbox server of this module's own (no demo estate)."""
    from runbook_sandbox.server import running_sandbox

    with running_sandbox(None) as url:
        yield url


def _notebook(folder, name, body):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    cell = nbformat.v4.new_code_cell(
        'params_file: str = "sandbox"  # params\nrun_id: str = "manual"  # the run'
    )
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell, nbformat.v4.new_code_cell(body)]
    nbformat.write(nb, folder / name)
    return folder / name


def _estate(folder, url, topic_arn):
    data = {
        "name": "odd notify estate",
        "target": {"kind": "sandbox", "endpoint_url": url},
        "accounts": [{"id": ACCOUNT, "name": "Odd-Acct_7"}],
        "regions": [REGION],
        "tiers": {"t-1": {"rpo": "6h", "rto": "2h", "retention": "9d", "restore_test_every": "3d"}},
        "default_tier": "t-1",
        "ledger": str(folder / "ledger"),
        "run_archive": str(folder / "archive"),
        "notify_topic_arn": topic_arn,
    }
    path = folder / "odd-notify.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    return path


@pytest.fixture
def subscribed(sandbox_url, tmp_path):
    """A topic with an SQS queue subscribed (SNS's JSON envelope, not raw delivery)."""
    arn = f"arn:aws:sns:{REGION}:{ACCOUNT}:{TOPIC}"
    params = load_params(_estate(tmp_path, sandbox_url, arn))
    session = AwsSession(params)
    sns = session.client("sns", ACCOUNT, REGION)
    sqs = session.client("sqs", ACCOUNT, REGION)
    assert sns.create_topic(Name=TOPIC)["TopicArn"] == arn
    queue = sqs.create_queue(QueueName=f"inbox-{tmp_path.name[-12:]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    sub = sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn["Attributes"]["QueueArn"])[
        "SubscriptionArn"
    ]
    yield sqs, queue
    sns.unsubscribe(SubscriptionArn=sub)
    sqs.delete_queue(QueueUrl=queue)


def _received(sqs, queue, wait: int = 2) -> list[dict]:
    out = []
    while True:
        got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=wait).get(
            "Messages", []
        )
        if not got:
            return out
        out += [json.loads(m["Body"]) for m in got]
        wait = 1


def _run(tmp_path, body, topic_arn, url, name="nightly.restore-7", **fields):
    """One due scheduled run of a notebook with ``body`` on the odd estate."""
    nb = _notebook(tmp_path, "04_probe.ipynb", body)
    params = _estate(tmp_path, url, topic_arn)
    job = Job(name=name, notebook=str(nb), cron="* * * * *", params_file=str(params), **fields)
    state = tmp_path / "schedule-state.json"
    now = datetime.now(UTC)
    state.write_text(json.dumps({job.name: (now - timedelta(minutes=2)).isoformat()}))
    [outcome] = run_due(Schedule(jobs=[job]), state, now)
    return outcome, state


def test_a_red_run_publishes_one_message_saying_what_failed_and_where(
    subscribed, sandbox_url, tmp_path
):
    sqs, queue = subscribed
    body = f"ROWS = {RED_ROWS!r}\n{WRITE_ROWS}"
    outcome, _ = _run(tmp_path, body, f"arn:aws:sns:{REGION}:{ACCOUNT}:{TOPIC}", sandbox_url)
    assert outcome.code == 3 and outcome.status == "red"
    [message] = _received(sqs, queue)  # one message for the run, not one per red row
    assert outcome.notification["status"] == "sent"
    assert outcome.notification["message_id"] == message["MessageId"]
    assert message["Subject"] == "runbook RED: nightly.restore-7 (restore-fail)"
    text = message["Message"]
    folder = outcome.folder
    for expected in (
        "Scheduled job 'nightly.restore-7' is RED (exit status 3).",
        f"Run: {outcome.run_id} (attempt 1)",
        "Red when (fail_on): restore-fail, critical",
        "restore_tests: FAIL 2, PASS 1",  # the run's verdict counts
        "restore-fail: 2 row(s) of restore_tests",
        "restore-fail: orders_ü-tbl; status=FAIL; RTO objective missed; restore + validation "
        "took 3h, over the t-1 RTO of 2h",
        "restore-fail: Odd.Bucket-9; status=FAIL; fingerprint: 41 records, expected 42",
        f"run folder: {folder}",
        f"report (HTML): {folder}/04_probe.html",
        f"manifest: {folder}/run.json",
    ):
        assert expected in text, (expected, text)
    assert "vol-0abc" not in text  # a PASS is not a red item
    attrs = {k: v["Value"] for k, v in message["MessageAttributes"].items()}
    assert attrs == {"job": "nightly.restore-7", "status": "red", "run_id": outcome.run_id}
    [row] = [json.loads(x) for x in history_file(tmp_path / "schedule-state.json").open()]
    assert row["notification"]["status"] == "sent"


def test_a_green_run_publishes_nothing_and_a_failed_notebook_does(
    subscribed, sandbox_url, tmp_path
):
    sqs, queue = subscribed
    arn = f"arn:aws:sns:{REGION}:{ACCOUNT}:{TOPIC}"
    green = f"ROWS = {RED_ROWS[2:]!r}\n{WRITE_ROWS}"
    outcome, _ = _run(tmp_path, green, arn, sandbox_url)
    assert outcome.status == "ok" and outcome.notification == {}
    assert _received(sqs, queue) == []
    outcome, _ = _run(tmp_path, "raise RuntimeError('vault odd-vault_3 refused')", arn, sandbox_url)
    assert outcome.status == "failed" and outcome.code == 1
    [message] = _received(sqs, queue)
    assert message["Subject"] == "runbook FAILED: nightly.restore-7 (did not run to the end)"
    assert "notebook 04_probe.ipynb failed: " in message["Message"]
    assert "vault odd-vault_3 refused" in message["Message"]
    assert f"executed notebook: {outcome.folder}/04_probe.ipynb" in message["Message"]


def test_a_timed_out_run_notifies_once_after_its_retries(subscribed, sandbox_url, tmp_path):
    sqs, queue = subscribed
    arn = f"arn:aws:sns:{REGION}:{ACCOUNT}:{TOPIC}"
    hang = "import time\ntime.sleep(600)"
    outcome, _ = _run(tmp_path, hang, arn, sandbox_url, timeout="3s", retries=1, retry_delay="1s")
    assert outcome.status == "timed_out" and len(outcome.attempts) == 2
    [message] = _received(sqs, queue)  # one message for the run and its retry
    assert message["Subject"] == "runbook TIMED OUT: nightly.restore-7 (time-out)"
    text = message["Message"]
    assert "notebook 04_probe.ipynb timed out: the run's time-out passed" in text
    first = outcome.attempts[0]
    assert f"Earlier attempts:\n  - {first['run_id']}: timed_out -> {first['folder']}" in text


def test_a_failed_publish_keeps_the_runs_result_and_says_so(sandbox_url, tmp_path, capsys):
    body = f"ROWS = {RED_ROWS[:1]!r}\n{WRITE_ROWS}"
    missing = f"arn:aws:sns:{REGION}:{ACCOUNT}:no-such-topic"
    outcome, state = _run(tmp_path, body, missing, sandbox_url)
    assert outcome.code == 3 and outcome.status == "red"  # the verdict stands
    assert outcome.notification["status"] == "failed"
    assert "NotFound" in outcome.notification["error"]
    assert (tmp_path / "archive" / outcome.run_id / "run.json").is_file()
    [row] = [json.loads(x) for x in history_file(state).open()]
    assert row["code"] == 3 and row["notification"]["status"] == "failed"
    report(outcome)
    err = capsys.readouterr().err
    assert f"NOTIFICATION FAILED ({missing})" in err and "the run's result above stands" in err


def test_no_notification_into_an_in_process_sandbox_that_is_gone(tmp_path, monkeypatch):
    from runbook_lib import notify
    from runbook_lib.schedule import Outcome
    from runbook_lib.targets import ENV_URL

    monkeypatch.delenv(ENV_URL, raising=False)
    params = _estate(tmp_path, None, f"arn:aws:sns:{REGION}:{ACCOUNT}:{TOPIC}")
    outcome = Outcome("j", str(tmp_path), 1, ["notebook x failed: boom"])
    record = notify.notify(str(params), outcome, [None])
    assert record["status"] == "not sent" and "runbook sandbox serve" in record["error"]


def test_notify_topic_arn_is_validated():
    d = {
        "name": "x",
        "accounts": [{"id": ACCOUNT, "name": "a"}],
        "regions": [REGION],
        "tiers": {"t": {"rpo": "1h", "rto": "1h", "retention": "1d", "restore_test_every": "1d"}},
        "default_tier": "t",
    }
    assert validate_params(d).notify_topic_arn == ""  # empty: off
    ok = f"arn:aws:sns:{REGION}:{ACCOUNT}:{TOPIC}.fifo"
    assert validate_params({**d, "notify_topic_arn": ok}).notify_topic_arn == ok
    for bad in (
        f"arn:aws:sqs:{REGION}:{ACCOUNT}:{TOPIC}",
        f"arn:aws:sns:mars-north-1:{ACCOUNT}:{TOPIC}",
        f"arn:aws:sns:{REGION}:12345:{TOPIC}",
        "rb-alerts",
    ):
        with pytest.raises(ParamsError) as info:
            validate_params({**d, "notify_topic_arn": bad})
        [problem] = info.value.problems
        assert problem.startswith(f"notify_topic_arn: {bad!r} is not an SNS topic ARN; use ")

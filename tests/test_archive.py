"""The tamper-evident archive: run.json lists every file with its SHA-256 and links to the
previous run; verify-archive finds a changed byte, a removed or added file, a broken link.
Hand-built run folders here (a real run folder: tests/test_exit_codes.py); S3 and Object
Lock on moto."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
import yaml
from moto import mock_aws

from runbook_lib import archive
from runbook_lib.cli import main
from runbook_lib.errors import ParamsError, RunbookError
from runbook_lib.params import ArchiveLock, params_dir, validate_params


def _run(root: Path, run_id: str, finished: str, files: dict[str, bytes]) -> Path:
    folder = root / run_id
    for rel, data in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    with archive.archive_lock(root):
        prev = archive.previous_link(archive.LocalStore(root))
        archive.write_manifest(folder, {"run_id": run_id, "finished": finished}, prev)
    return folder


FILES = {
    "01_inventory.ipynb": b'{"cells": []}',
    "01_inventory.html": b"<html>report</html>",
    "exports/inventory.csv": b"arn,name\narn:aws:s3:::b,b\n",
}


@pytest.fixture
def chain(tmp_path):
    root = tmp_path / "runs"
    (root / "ledger" / "inventory").mkdir(parents=True)  # not a run folder: not checked
    ids = ["20261201T010000Z-aaaaaa", "20261202T010000Z-bbbbbb", "20261203T010000Z-cccccc"]
    for i, run_id in enumerate(ids):
        _run(root, run_id, f"2026-12-0{i + 1}T02:00:00Z", FILES)
    return root, ids


def _doc(folder: Path) -> dict:
    return json.loads((folder / "run.json").read_text())


def test_manifest_lists_every_file_and_links_the_previous_run(chain):
    root, ids = chain
    first, second = _doc(root / ids[0]), _doc(root / ids[1])
    assert first["previous"] is None and first["format"] == archive.FORMAT
    assert {f["path"] for f in first["files"]} == set(FILES)
    entry = next(f for f in first["files"] if f["path"] == "01_inventory.html")
    assert entry["bytes"] == len(FILES["01_inventory.html"])
    assert entry["sha256"] == archive.sha256_bytes(FILES["01_inventory.html"])
    assert second["previous"] == {
        "run_id": ids[0],
        "manifest_sha256": archive.sha256_file(root / ids[0] / "run.json"),
    }
    v = archive.verify(str(root))
    assert v.ok, v.lines()
    assert v.checked == ids


def test_the_chain_follows_the_order_manifests_were_written(tmp_path):
    """A long run that started first and finishes last links to the run written before it,
    and the next run links to it: one chain, no fork."""
    root = tmp_path / "runs"
    _run(root, "20261201T010000Z-aaaaaa", "2026-12-01T05:00:00Z", FILES)  # long, written first
    _run(root, "20261201T020000Z-bbbbbb", "2026-12-01T03:00:00Z", FILES)  # short, written next
    _run(root, "20261201T060000Z-cccccc", "2026-12-01T06:30:00Z", FILES)
    links = {r.name: _doc(r)["previous"] for r in sorted(root.iterdir()) if r.is_dir()}
    assert links["20261201T020000Z-bbbbbb"]["run_id"] == "20261201T010000Z-aaaaaa"
    assert links["20261201T060000Z-cccccc"]["run_id"] == "20261201T020000Z-bbbbbb"
    assert archive.verify(str(root)).ok


def test_one_changed_byte_is_reported(chain, capsys):
    root, ids = chain
    f = root / ids[1] / "01_inventory.html"
    data = bytearray(f.read_bytes())
    data[3] ^= 1  # same size, one byte
    f.write_bytes(bytes(data))
    assert main(["verify-archive", str(root)]) == 1
    out = capsys.readouterr().out
    assert f"CHANGED  {root / ids[1] / '01_inventory.html'}" in out
    assert main(["verify-archive", str(root / ids[0])]) == 0  # the other runs are intact


def test_removed_and_added_files_are_reported(chain):
    root, ids = chain
    (root / ids[0] / "exports" / "inventory.csv").unlink()
    (root / ids[2] / "exports" / "extra.csv").write_text("a\n1\n")
    problems = archive.verify(str(root)).problems
    assert problems == [
        f"REMOVED  {root / ids[0] / 'exports/inventory.csv'}",
        f"ADDED    {root / ids[2] / 'exports/extra.csv'} (not in its run.json)",
    ]


def test_a_changed_manifest_breaks_the_next_link(chain):
    root, ids = chain
    m = root / ids[0] / "run.json"
    doc = json.loads(m.read_text())
    doc["files"] = [f for f in doc["files"] if f["path"] != "01_inventory.html"]
    m.write_text(json.dumps(doc, indent=2))  # hides a file from run 1...
    (root / ids[0] / "01_inventory.html").unlink()  # ...then removes it
    v = archive.verify(str(root))
    assert not v.ok
    assert [p for p in v.problems if p.startswith("BROKEN LINK")] == [
        v.problems[0]
    ] and f"run.json of previous run {ids[0]} changed" in v.problems[0]


def test_a_removed_run_and_a_second_chain_are_broken_links(chain, tmp_path):
    root, ids = chain
    import shutil

    shutil.rmtree(root / ids[1])
    v = archive.verify(str(root))
    assert v.problems == [
        f"BROKEN LINK {root / ids[2]}: previous run {ids[1]} is gone",
    ]
    # a run folder added later that starts its own chain
    planted = root / "20261204T010000Z-dddddd"
    planted.mkdir()
    (planted / "x.txt").write_text("x")
    archive.write_manifest(planted, {"run_id": planted.name, "finished": "z"}, None)
    assert any("2 runs start a chain" in p for p in archive.verify(str(root)).problems)


def test_interrupted_runs_and_old_manifests_are_named(chain):
    root, _ = chain
    (root / "20261205T010000Z-eeeeee").mkdir()  # no run.json
    old = root / "20251205T010000Z-ffffff"
    old.mkdir()
    (old / "run.json").write_text('{"run_id": "x", "notebooks": []}')
    v = archive.verify(str(root))
    assert v.problems == [
        f"NO MANIFEST {root / '20261205T010000Z-eeeeee'} (an interrupted run, or a folder added)"
    ]
    assert any("written before manifests" in n for n in v.notes)


def test_a_single_run_folder_notes_a_previous_run_that_is_not_beside_it(chain, tmp_path):
    import shutil

    root, ids = chain
    copy = tmp_path / "handed-over" / ids[2]
    shutil.copytree(root / ids[2], copy)
    v = archive.verify(str(copy))
    assert v.ok and v.checked == [ids[2]]
    assert v.notes == [f"previous run {ids[1]} is not beside {ids[2]}: link not checked"]


def test_verify_archive_on_a_missing_path_is_a_usage_error(tmp_path, capsys):
    assert main(["verify-archive", str(tmp_path / "nope")]) == 2
    assert "no such folder" in capsys.readouterr().err


# --------------------------------------------------------------------------- S3


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="eu-west-1")
        for name, lock in (("locked-archive", True), ("plain-archive", False)):
            client.create_bucket(
                Bucket=name,
                CreateBucketConfiguration={"LocationConstraint": "eu-west-1"},
                ObjectLockEnabledForBucket=lock,
            )
        yield client


def _upload(s3, folder: Path, url: str, lock_args: dict) -> None:
    from runbook_lib.runner import upload_folder

    upload_folder(None, folder, url, s3, lock_args)


def test_s3_archive_chain_and_object_lock(s3, tmp_path):
    url = "s3://locked-archive/runs"
    lock = ArchiveLock(mode="compliance", days=1)
    archive.check_lock_bucket(s3, url)
    ids = ["20261201T010000Z-aaaaaa", "20261202T010000Z-bbbbbb"]
    for run_id in ids:
        folder = tmp_path / run_id
        (folder / "exports").mkdir(parents=True)
        (folder / "exports" / "findings.csv").write_text("a\n1\n")
        args = archive.lock_arguments(lock)
        prev = archive.previous_link(archive.S3Store(url, s3))
        summary = {"run_id": run_id, "object_lock": {"mode": "COMPLIANCE", "days": 1}}
        archive.write_manifest(folder, summary, prev)
        _upload(s3, folder, f"{url}/{run_id}", args)
    second = json.loads(
        s3.get_object(Bucket="locked-archive", Key=f"runs/{ids[1]}/run.json")["Body"].read()
    )
    assert second["previous"]["run_id"] == ids[0]
    got = s3.get_object(Bucket="locked-archive", Key=f"runs/{ids[0]}/exports/findings.csv")
    assert got["ObjectLockMode"] == "COMPLIANCE"
    assert got["ObjectLockRetainUntilDate"] > datetime.now(UTC) + timedelta(hours=23)
    # a retained version cannot be deleted (moto enforces it, as AWS does)
    with pytest.raises(s3.exceptions.ClientError, match="AccessDenied"):
        s3.delete_object(
            Bucket="locked-archive",
            Key=f"runs/{ids[0]}/run.json",
            VersionId=s3.head_object(Bucket="locked-archive", Key=f"runs/{ids[0]}/run.json")[
                "VersionId"
            ],
        )
    v = archive.verify(url, s3)
    assert v.ok, v.lines()
    assert v.checked == ids
    assert archive.verify(f"{url}/{ids[1]}", s3).checked == [ids[1]]
    # a new version written over a file (here without a lock) is found both ways
    s3.put_object(
        Bucket="locked-archive", Key=f"runs/{ids[1]}/exports/findings.csv", Body=b"a\n2\n"
    )
    problems = archive.verify(url, s3).problems
    assert [p.split()[0] for p in problems] == ["CHANGED", "UNLOCKED"]


def test_s3_object_lock_needs_a_lock_enabled_bucket(s3):
    with pytest.raises(
        RunbookError, match="run_archive_lock: bucket 'plain-archive' does not have S3 Object Lock"
    ):
        archive.check_lock_bucket(s3, "s3://plain-archive/runs")


def test_run_archive_lock_params_are_validated():
    d = yaml.safe_load((params_dir() / "sandbox.yaml").read_text())
    with pytest.raises(ParamsError) as info:
        validate_params(
            {**d, "run_archive": "s3://b/runs", "run_archive_lock": {"mode": "strict", "days": 0}}
        )
    assert info.value.problems == [
        "run_archive_lock.mode: Input should be 'governance' or 'compliance'",
        "run_archive_lock.days: Input should be greater than or equal to 1",
    ]
    with pytest.raises(ParamsError, match="run_archive_lock: applies to an s3:// run_archive only"):
        validate_params({**d, "run_archive_lock": {"days": 30}})
    p = validate_params({**d, "run_archive": "s3://b/runs", "run_archive_lock": {"days": 30}})
    assert p.run_archive_lock == ArchiveLock(mode="governance", days=30)


def test_object_lock_with_a_local_archive_is_refused_before_anything_runs(tmp_path, capsys):
    d = yaml.safe_load((params_dir() / "sandbox.yaml").read_text())
    d.update(run_archive="s3://evidence/runs", run_archive_lock={"days": 3})
    f = tmp_path / "locked.yaml"
    f.write_text(yaml.safe_dump(d))
    out = tmp_path / "local-runs"
    assert main(["run", "--params", str(f), "--notebook", "inventory", "--out", str(out)]) == 2
    assert "run_archive_lock: the params ask for S3 Object Lock" in capsys.readouterr().err
    assert not out.exists()


def test_an_s3_archive_that_cannot_be_listed_is_a_clear_error(s3):
    with pytest.raises(
        RunbookError, match=r"run archive s3://no-such-bucket/runs: cannot list it \(NoSuchBucket"
    ):
        archive.verify("s3://no-such-bucket/runs", s3)


def test_uploaded_files_carry_a_content_type_a_browser_can_use(s3, tmp_path):
    """The archived HTML opened from S3 loads its plotly.js and DataTables bundle: every
    file goes up with its Content-Type (a script served as binary/octet-stream is refused)."""
    folder = tmp_path / "20261203T010000Z-cccccc"
    (folder / "exports").mkdir(parents=True)
    names = {
        "report.html": "text/html; charset=utf-8",
        "plotly.min.js": "text/javascript; charset=utf-8",
        "datatables.js": "text/javascript; charset=utf-8",
        "01_inventory.ipynb": "application/x-ipynb+json",
        "run.json": "application/json",
        "exports/findings.csv": "text/csv; charset=utf-8",
        "style.css": "text/css; charset=utf-8",
        "chart.png": "image/png",
        "notes.unknownext": "application/octet-stream",
    }
    for name in names:
        (folder / name).write_text("x")
    _upload(s3, folder, "s3://plain-archive/runs/r1", {})
    got = {
        name: s3.head_object(Bucket="plain-archive", Key=f"runs/r1/{name}")["ContentType"]
        for name in names
    }
    assert got == names

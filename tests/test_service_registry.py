"""The service registry: every registered service provides every capability or declares,
with a reason, why it does not; the generic flows name no service."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from runbook_lib import services as registry
from runbook_lib.params import PROJECT_ROOT

LIB = PROJECT_ROOT / "runbook_lib"


def _provided(spec: registry.ServiceSpec, capability: str) -> bool:
    """Whether ``spec``'s package plugs ``capability`` into its flow's registry."""
    registry.load(capability)
    name = spec.name
    if capability == "inventory":
        from runbook_lib.inventory.plugin import SERVICES

        return name in SERVICES
    if capability == "restore":
        from runbook_lib.restore.registry import FINDERS, HANDLERS, RESTORERS

        return (
            name in HANDLERS
            and any(s == name for s, _ in FINDERS)
            and any(s == name for s, _ in RESTORERS)
        )
    if capability == "protect":
        from runbook_lib.protect.plugin import PLANNERS

        return name in PLANNERS
    if capability == "backup_now":
        from runbook_lib.backup_now import NATIVE

        return spec.aws_backup or name in NATIVE
    if capability == "continuous":
        from runbook_lib.post_incident.continuous import READERS

        return any(s == name for s, _ in READERS)
    if capability == "controls":
        from runbook_lib.audit.model import CONTROLS

        return any(name in c.services for c in CONTROLS.values())
    raise AssertionError(f"no conformance rule for capability {capability!r}")


SPECS = list(registry.specs().values())


@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
@pytest.mark.parametrize("capability", registry.CAPABILITIES)
def test_each_service_provides_each_capability_or_says_why_not(spec, capability):
    provided = _provided(spec, capability)
    reason = spec.unsupported.get(capability, "")
    if not provided:
        assert reason.strip(), (
            f"{spec.name} ({spec.package}) has no {capability} and declares no reason in "
            f"runbook_lib/services/{spec.package}/__init__.py unsupported[{capability!r}]"
        )
    else:
        assert not reason, f"{spec.name} provides {capability} but declares it unsupported"


@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
def test_each_spec_is_well_formed(spec):
    assert set(spec.unsupported) <= set(registry.CAPABILITIES), spec.unsupported
    assert spec.arns and spec.title and spec.package
    assert (LIB / "services" / spec.package / "__init__.py").is_file()
    re.compile(spec.names.bad)
    if spec.names.valid:
        re.compile(spec.names.valid)
    registry.load("restore")
    from runbook_lib.restore.registry import FINDERS

    sources = {src for s, src in FINDERS if s == spec.name}
    assert set(spec.continuous_sources) <= sources, (spec.continuous_sources, sources)
    if spec.aws_backup:
        assert "aws-backup" in sources


def test_a_service_package_without_a_capability_module_is_held_to_its_declaration():
    """load() skips packages without the module; the declarations are what is checked."""
    loaded = registry.load("continuous")
    for spec in SPECS:
        if spec.package not in loaded:
            assert spec.unsupported.get("continuous"), spec.name


def test_unknown_capability_and_service_are_named():
    with pytest.raises(ValueError, match="unknown capability 'nope'"):
        registry.load("nope")
    with pytest.raises(KeyError, match="unknown service 'sqs'"):
        registry.spec("sqs")


WORDS = ("elasticache", "neptune", "opensearch", "efs")


def _library_files_naming(word: str) -> list[str]:
    pattern = re.compile(rf"\b{word}\b", re.IGNORECASE)
    out = []
    for path in sorted(LIB.rglob("*.py")):
        rel = path.relative_to(LIB)
        if rel.parts[0] in ("services", "_data"):
            continue
        if pattern.search(path.read_text(encoding="utf-8")):
            out.append(str(rel))
    return out


@pytest.mark.parametrize("word", WORDS)
def test_outside_the_services_package_at_most_two_files_name_a_service(word):
    files = _library_files_naming(word)
    assert len(files) <= 2, f"{word!r} is named in {len(files)} library files: {files}"


def test_the_flows_import_no_moto():
    code = (
        "import sys, runbook_lib.inventory, runbook_lib.protect, runbook_lib.restore, "
        "runbook_lib.audit, runbook_lib.post_incident, runbook_lib.backup_now\n"
        "from runbook_lib import services\n"
        "for c in services.CAPABILITIES: services.load(c)\n"
        "assert not [m for m in sys.modules if m.startswith('moto')], 'moto imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path("/"))


def test_declared_fingerprint_kinds_are_the_kinds_recorded():
    """A spec's ``fingerprint`` names the kind backup_now records (docs and ledger say it)."""
    from runbook_lib import services
    from runbook_lib.services.elasticache import data as cache_data
    from runbook_lib.services.rds import data as db_data

    for name in ("rds", "aurora"):
        assert services.spec(name).fingerprint == db_data.KIND
    assert services.spec("elasticache").fingerprint == cache_data.KIND

"""Post-incident review: given an incident window, what could be recovered, with evidence.

    from runbook_lib import post_incident
    rv = post_incident.review(rb, incident_start="2026-11-24T10:00:00Z", incident_end="",
                              resources=["arn:aws:dynamodb:...:table/orders", "backup-tier=gold"])
    rv.headline(); rv.table(); rv.known_risks; rv.timeline; rv.figure(); rv.notes
    post_incident.record(rb, rv)       # ledger table post_incident (docs/ledger.md)

Parameters are checked first (``parse_window``, ``parse_resources``): a bad time, an end
before the start or an ARN that names no data resource raises one ``ParamsError`` naming
the field, before any AWS call. See docs/post-incident.md.
"""

from runbook_lib.post_incident.continuous import READERS, Window, read_window
from runbook_lib.post_incident.review import (
    COLUMNS,
    CREATED_AFTER_START,
    NOT_FOUND,
    RECOVERABLE,
    REPRODUCIBLE,
    RPO_BREACHED,
    STATUSES,
    UNRECOVERABLE,
    Review,
    assess,
    audit_before,
    expected_rto,
    measured_rtos,
    record,
    review,
)
from runbook_lib.post_incident.timeline import SOURCES, build_timeline, figure
from runbook_lib.post_incident.window import (
    IncidentWindow,
    ResourceFilter,
    parse_resources,
    parse_window,
)
from runbook_lib.services import load as _load

_load("continuous")  # every service's continuous module registers its window reader

__all__ = [
    "COLUMNS", "CREATED_AFTER_START", "NOT_FOUND", "READERS", "RECOVERABLE", "REPRODUCIBLE",
    "RPO_BREACHED", "SOURCES", "STATUSES", "UNRECOVERABLE",
    "IncidentWindow", "ResourceFilter", "Review", "Window",
    "assess", "audit_before", "build_timeline", "expected_rto", "figure", "measured_rtos",
    "parse_resources", "parse_window", "read_window", "record", "review",
]  # fmt: skip

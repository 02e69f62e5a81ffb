"""Register the extension with moto (idempotent). Call before the sandbox starts."""

from __future__ import annotations

import threading

from moto.backup import urls as backup_urls
from moto.backup.responses import BackupResponse
from moto.core.base_backend import BackendDict
from moto.moto_api._internal import urls as moto_api_urls

from . import faults, responses, restore_testing, selections, vaults

#: URL patterns of the added operations (the operation is chosen by moto from the
#: method and path via the botocore model; these only have to route to BackupResponse).
URL_PATTERNS = [
    "{0}/backup/plans/(?P<plan>[^/]+)/selections/$",
    "{0}/backup/plans/(?P<plan>[^/]+)/selections/(?P<selection>[^/]+)$",
    "{0}/backup-jobs$",
    "{0}/backup-jobs/$",
    "{0}/backup-jobs/(?P<job>[^/]+)$",
    "{0}/copy-jobs$",
    "{0}/copy-jobs/$",
    "{0}/copy-jobs/(?P<job>[^/]+)$",
    "{0}/restore-jobs$",
    "{0}/restore-jobs/$",
    "{0}/restore-jobs/(?P<job>[^/]+)$",
    "{0}/backup-vaults/(?P<vault>[^/]+)/access-policy$",
    "{0}/backup-vaults/(?P<vault>[^/]+)/recovery-points/$",
    "{0}/backup-vaults/(?P<vault>[^/]+)/recovery-points/(?P<rp>.+)$",
    "{0}/resources/$",
    "{0}/resources/(?P<arn>.+)$",
]
# Werkzeug (server mode) only matches a trailing slash when the pattern has one, so
# list operations, whose botocore URIs end in "/", get a pattern ending in "/$".

_lock = threading.Lock()
_installed = False


def install() -> None:
    """Add AWS Backup selections, jobs, recovery points, vault access policies, logically
    air-gapped vaults (vault types) and restore testing to moto, plus the sandbox control
    routes (/moto-api/sandbox/...). Safe to call twice.

    Call it before ``mock_aws()`` starts or ``ThreadedMotoServer.start()`` / the moto
    server app first answers a Backup request (moto builds its routing tables then).
    """
    global _installed
    with _lock:
        if _installed:
            return
        for pattern in URL_PATTERNS + restore_testing.URL_PATTERNS + vaults.URL_PATTERNS:
            backup_urls.url_paths.setdefault(pattern, BackupResponse.dispatch)
        responses._MOTO_DELETE_BACKUP_VAULT = BackupResponse.delete_backup_vault
        operations = {**responses.OPERATIONS, **restore_testing.OPERATIONS, **vaults.OPERATIONS}
        for name, func in operations.items():
            setattr(BackupResponse, name, func)
        moto_api_urls.url_paths.update(faults.ROUTES)
        moto_api_urls.url_paths.update(selections.ROUTES)
        moto_api_urls.url_paths.update(restore_testing.ROUTES)
        from runbook_sandbox import clock, state  # their routes: the clock, save/load

        moto_api_urls.url_paths.update(clock.ROUTES)
        moto_api_urls.url_paths.update(state.ROUTES)
        _hook_reset()
        _installed = True


def _hook_reset() -> None:
    """moto's reset (``/moto-api/reset``, ``mock_aws`` start) also clears the fault switch.

    The extension's other state lives on moto's backup backend objects, which the
    reset rebuilds, so it goes with them.
    """
    original = BackendDict.reset.__func__  # type: ignore[attr-defined]

    def reset(cls: type) -> None:
        original(cls)
        faults.reset()

    BackendDict.reset = classmethod(reset)  # type: ignore[method-assign,assignment]

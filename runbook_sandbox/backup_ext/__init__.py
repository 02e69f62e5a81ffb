"""AWS Backup selections, jobs, recovery points, vault access policies, logically air-gapped
vaults (vault types) and restore testing for moto.

``install()`` adds them to moto before the sandbox starts; see docs/sandbox-backup.md.
"""

from .faults import clear_faults, damage_recovery_point, set_fault, set_job_seconds
from .install import install
from .restore_testing import run_restore_testing_plan_now
from .selections import run_plan_now

__all__ = [
    "clear_faults",
    "damage_recovery_point",
    "install",
    "run_plan_now",
    "run_restore_testing_plan_now",
    "set_fault",
    "set_job_seconds",
]

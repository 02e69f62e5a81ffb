"""One exception hierarchy for the whole library.

Every message names the resource or field, what was wrong, and what to do.
"""

from __future__ import annotations


class RunbookError(Exception):
    """Base class for every error this library raises on purpose."""


class ParamsError(RunbookError):
    """A parameter file or value is invalid. ``problems`` holds one line per problem."""

    MAX_PROBLEMS = 30
    MAX_CHARS = 400

    def __init__(self, source: str, problems: list[str]):
        self.source = str(source)[:300]
        # each problem one bounded line, and a bounded number of them (hostile input
        # must not produce megabytes of error text)
        bounded = [" ".join(str(p).split())[: self.MAX_CHARS] for p in problems]
        if len(bounded) > self.MAX_PROBLEMS:
            extra = len(bounded) - self.MAX_PROBLEMS
            bounded = bounded[: self.MAX_PROBLEMS] + [f"... and {extra} more problem(s)"]
        self.problems = bounded
        problems = bounded
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s) in the parameters:\n{lines}")


class AccessError(RunbookError):
    """An account or Region could not be reached (role not assumable, Region refused)."""


class SandboxError(RunbookError):
    """The local sandbox could not be started or reached."""


class ApprovalRequired(RunbookError):
    """A change was asked for without the approval parameter it needs."""


class ValidationFailed(RunbookError):
    """Restored data did not match what was backed up."""

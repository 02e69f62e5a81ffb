"""papermill's nbclient engine, saving the executed notebook less often.

papermill writes the whole output notebook twice per cell (at each cell's start and end,
markdown cells included). A runbook's evidence tables carry every row and its charts their
data, so each write serialises megabytes: on the inventory and audit runbooks those writes
were 3-4 s of each notebook's run (``bench/bench_runbook_overhead.py``). This engine writes
at the start, after a cell at most every :data:`AUTOSAVE_SECONDS` (so a run that is killed
leaves a copy at most that old), and at the end, also when a cell failed or the kernel was
killed (papermill's ``notebook_complete`` runs in a ``finally``). Cell timings and statuses
are papermill's own.

Once the last cell has run, the kernel is stopped at once (nbclient's
``shutdown_kernel="immediate"``) rather than asked to shut down and waited for: every cell
has finished and its output is in the copy, and the polite shutdown took 0.5-1 s per
notebook.
"""

from __future__ import annotations

import time

from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines

#: the engine name given to ``papermill.execute_notebook(engine_name=...)``
ENGINE = "runbook"
#: seconds between two writes of the output notebook while cells run
AUTOSAVE_SECONDS = 10.0


class _Manager(NotebookExecutionManager):
    """Writes at most every AUTOSAVE_SECONDS between cells; always at start and end."""

    _last_write = 0.0

    def _save_now(self) -> None:
        super().save()
        self._last_write = time.monotonic()

    def save(self, **kwargs) -> None:  # papermill calls it at every cell start and end
        if time.monotonic() - self._last_write >= AUTOSAVE_SECONDS:
            self._save_now()

    def notebook_start(self, **kwargs) -> None:
        self._last_write = 0.0  # the first write is not throttled
        super().notebook_start(**kwargs)

    def notebook_complete(self, **kwargs) -> None:
        self._last_write = 0.0  # nor the last one
        super().notebook_complete(**kwargs)

    def cell_exception(self, cell, cell_index=None, **kwargs) -> None:
        super().cell_exception(cell, cell_index, **kwargs)
        self._save_now()  # the failing cell is on disk before anything else happens


class RunbookEngine(NBClientEngine):
    """NBClientEngine with :class:`_Manager` as its execution manager."""

    @classmethod
    def execute_managed_notebook(cls, nb_man, kernel_name, **kwargs):
        kwargs.setdefault("shutdown_kernel", "immediate")
        return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)

    @classmethod
    def execute_notebook(
        cls,
        nb,
        kernel_name,
        output_path=None,
        progress_bar=True,
        log_output=False,
        autosave_cell_every=30,
        **kwargs,
    ):
        nb_man = _Manager(
            nb,
            output_path=output_path,
            progress_bar=progress_bar,
            log_output=log_output,
            autosave_cell_every=autosave_cell_every,
        )
        nb_man.notebook_start()
        try:
            cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
        finally:
            nb_man.cleanup_pbar()
            nb_man.notebook_complete()
        return nb_man.nb


papermill_engines.register(ENGINE, RunbookEngine)

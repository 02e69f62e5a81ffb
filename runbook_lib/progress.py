"""Progress bars for long loops, in one place.

Interactive (JupyterLab, a terminal): a tqdm bar (a widget in JupyterLab). In a batch run
(papermill, nbval, the scheduler: ``RUNBOOK_BATCH=1``, set by the runner and the tests)
bars are off, because a widget saved in an executed notebook is frozen at 0%; the
library's log lines (``logging.getLogger("runbook_lib")``) carry progress there instead.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

BATCH_ENV = "RUNBOOK_BATCH"


def batch_mode() -> bool:
    return os.environ.get(BATCH_ENV, "") not in ("", "0", "false")


def progress(iterable: Any = None, **kwargs: Any):
    """``tqdm.auto.tqdm`` with the batch rule above; same arguments."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "IProgress not found" when ipywidgets is absent
        from tqdm.auto import tqdm
    if batch_mode():
        kwargs["disable"] = True
    return tqdm(iterable, **kwargs)

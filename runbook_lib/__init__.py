"""runbook_lib: backup and restore assurance for AWS (Well-Architected REL 9).

The notebooks in ``notebooks/`` are thin; every step calls a function here that
returns data (DataFrames, plans, results, plotly Figures).
"""

from runbook_lib.errors import ParamsError, RunbookError

__all__ = ["ParamsError", "RunbookError", "__version__"]
__version__ = "0.1.0"

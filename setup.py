"""Ship the notebooks, parameter templates and IAM policies inside the package.

They live at the top of the repository (the layout users and docs refer to); a regular
install copies them into ``runbook_lib/_data/`` where ``runbook_lib.package_data`` finds
them with importlib.resources. Everything else is in pyproject.toml.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

DATA = ("notebooks", "params", "policies")


class BuildPyWithData(build_py):
    def run(self):
        super().run()
        root = Path(__file__).resolve().parent
        for name in DATA:
            src = root / name
            if src.is_dir():
                shutil.copytree(
                    src,
                    Path(self.build_lib) / "runbook_lib" / "_data" / name,
                    dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"),
                )


setup(cmdclass={"build_py": BuildPyWithData})

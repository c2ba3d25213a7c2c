"""A throwaway Airflow home for the DAG tests.

Airflow reads its configuration when `airflow` is first imported, so the environment has to be
in place before that: `airflow_environment()` sets it (under a fresh folder in /tmp), imports
Airflow, and puts the previous environment back afterwards (a module-scoped fixture: the DAG
tests' module). Nothing else in the test suite imports Airflow.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DAGS_FOLDER = REPO / "pipelines" / "dags"
AIRFLOW_BIN = Path(sys.executable).parent / "airflow"


@dataclass(frozen=True)
class AirflowHome:
    home: Path
    env: dict[str, str]

    def migrate(self) -> None:
        """`airflow db migrate` into the home's SQLite metadata database."""
        subprocess.run(
            [str(AIRFLOW_BIN), "db", "migrate"],
            env={**os.environ, **self.env},
            check=True,
            capture_output=True,
            text=True,
            timeout=300,
        )


def airflow_settings(home: Path) -> dict[str, str]:
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
    }


@contextmanager
def airflow_environment() -> Iterator[AirflowHome]:
    """Set the Airflow environment, import Airflow under it, and restore the environment after."""
    if "airflow" in sys.modules:
        raise RuntimeError("airflow was imported before its test environment was set up")
    home = Path(tempfile.mkdtemp(prefix="recsys-airflow-"))
    env = airflow_settings(home)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        import airflow.settings  # noqa: F401  (reads the configuration now)

        yield AirflowHome(home, env)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(home, ignore_errors=True)

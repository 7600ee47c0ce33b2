"""Every Python block of the README that uses the source runs as written, against the simulators
(keys and base URLs from the environment, as a user sets them): the README cannot drift."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from agent_runs.views import VIEWS
from tests.utils import cli_env

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)
NEEDS = {"airflow_helper": 'needs Apache Airflow (`pip install "dlt[airflow]"`), which the tests do not install'}


def test_the_readme_has_python_blocks_that_use_the_source() -> None:
    assert sum("agent_runs" in block for block in BLOCKS) >= 2


@pytest.mark.parametrize(
    "block", [block for block in BLOCKS if "agent_runs" in block], ids=lambda block: block.split("\n")[-2][:40]
)
def test_a_readme_block_runs_as_written(block: str, provider_env: dict[str, str], workdir: Path) -> None:
    for marker, reason in NEEDS.items():
        if marker in block:
            pytest.skip(reason)
    result = subprocess.run(
        [sys.executable, "-c", block],
        cwd=workdir,
        env=cli_env(provider_env, workdir),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    database = next(workdir.glob("*.duckdb"))
    with duckdb.connect(str(database), read_only=True) as connection:
        assert connection.execute("SELECT count(*) FROM agent_runs.runs").fetchone()[0] > 0
        views = {
            row[0] for row in connection.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()
        }
    assert views == set(VIEWS)  # the same table and views as the command

"""Every Python block of the README that uses the source runs as written, against the simulators
(keys and base URLs from the environment, as a user sets them): the README cannot drift."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from agent_runs.analytics.views import ALL_VIEWS
from agent_runs.providers import PROVIDERS
from tests.utils import cli_env

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_the_readme_has_python_blocks_that_use_the_source() -> None:
    assert sum("agent_runs" in block for block in BLOCKS) >= 2


@pytest.mark.parametrize(
    "block", [block for block in BLOCKS if "agent_runs" in block], ids=lambda block: block.split("\n")[-2][:40]
)
def test_a_readme_block_runs_as_written(block: str, provider_env: dict[str, str], workdir: Path) -> None:
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
    assert views == set(ALL_VIEWS)  # the same table and views as the command


def contract_rows() -> dict[str, dict[str, str]]:
    """The README's `runs` contract: for each column, each provider's cell (by display name)."""
    section = README.read_text().split("## The `runs` table")[1].split("\n## ")[0].split("\n### ")[0]
    lines = [line for line in section.splitlines() if line.startswith("|") and not line.startswith("|---")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = {}
    for line in lines[1:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        for column in cells[0].split(", "):
            rows[column] = dict(zip(header[2:], cells[2:], strict=True))
    return rows


@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_the_contract_names_every_field_each_provider_maps(provider: str) -> None:
    """The contract table is the field maps of the provider modules: it cannot drift from them."""
    rows = contract_rows()
    display = PROVIDERS[provider].display_name.removesuffix(" Cloud")
    for run_list in PROVIDERS[provider].lists:
        fields = [
            *run_list.fields.items(),
            *((column, path) for column, paths in run_list.summed_fields.items() for path in paths),
        ]
        fields += [("goal_achieved", path) for _, path in run_list.verdicts]
        for column, path in fields:
            assert column in rows, column
            assert re.search(rf"[`.]{re.escape(path[-1])}`", rows[column][display]), (
                f"{provider} {run_list.name}: {column} <- {'.'.join(path)}"
            )

"""`agent-runs transform`: the dbt package built by dlt's dbt runner on DuckDB after the demo (the
PostgreSQL run is in test_postgres.py). Every model is built and every test passes on the demo's
data; data that breaks the contract fails the test named for it; the models' rows are the views'
rows; the package's files are what dbt_package.py writes from views.py and schema.py."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import jinja2
import pytest
import sqlglot
import yaml
from filelock import FileLock

from agent_runs.analytics.dbt_package import DEFAULT_DIALECT, DIALECTS, PACKAGE_DIR, package_files
from agent_runs.analytics.transform import TransformError, require_dbt, transform_pipeline, transform_runs
from agent_runs.analytics.views import ALL_VIEWS
from agent_runs.errors import NoRunsLoaded
from agent_runs.rows.schema import RUNS_COLUMNS
from tests.utils import agent_runs, copy_of, rows_differing

pytestmark = pytest.mark.long  # dbt's work: started first
DEMO = "agent_runs_demo"
MODELS = f"{DEMO}_dbt"


def package_tests() -> list[str]:
    """The name of every test the package declares."""
    sources = yaml.safe_load((PACKAGE_DIR / "models/_agent_runs__sources.yml").read_text())["sources"]
    tables = [table for source in sources for table in source["tables"]]
    declared = [test for table in tables for test in table.get("data_tests", [])]
    declared += [test for table in tables for column in table["columns"] for test in column.get("data_tests", [])]
    return [next(iter(test.values()))["name"] for test in declared]


def duckdb_query(database: Path) -> Callable[[str], tuple[list[str], list[tuple[Any, ...]]]]:
    def query(sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        with duckdb.connect(str(database), read_only=True) as connection:
            cursor = connection.execute(sql)
            return [column[0] for column in cursor.description], cursor.fetchall()

    return query


def test_the_package_is_what_dbt_package_writes_from_the_views_and_the_contract() -> None:
    """One definition: a view or column changed without `python -m agent_runs.analytics.dbt_package` fails here."""
    on_disk = {str(path.relative_to(PACKAGE_DIR)): path.read_text() for path in (PACKAGE_DIR / "models").iterdir()}
    assert on_disk == package_files()
    assert set(package_tests()) >= {"runs_provider_run_id_unique", "runs_status_accepted_values"}


@pytest.mark.parametrize("target_type", [*DIALECTS, "dremio"])
def test_each_adapter_gets_the_view_in_the_dialect_dlt_writes_for_it(target_type: str) -> None:
    """The models' branches, rendered as dbt renders them for an adapter: the SELECT sqlglot writes
    for that destination's dialect (any other adapter: PostgreSQL's), over the `runs` and
    `run_steps` sources."""
    dialect = DIALECTS.get(target_type, DEFAULT_DIALECT)
    environment = jinja2.Environment()
    for name, select in ALL_VIEWS.items():
        rendered = environment.from_string(package_files()[f"models/{name}.sql"]).render(
            target={"type": target_type}, source=lambda source, table: f"{source}.{table}"
        )
        sql = select.format(runs="agent_runs.runs", steps="agent_runs.run_steps")
        want = sqlglot.transpile(sql, read="postgres", write=dialect, pretty=True)[0]
        assert rendered.split("\n", 1)[1].strip() == want, (name, target_type)


def test_transform_after_the_demo_builds_every_model_and_passes_every_test(demo: Path, tmp_path: Path) -> None:
    work = copy_of(demo, tmp_path)
    result = agent_runs(work, "transform")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    for name in ALL_VIEWS:
        assert f"OK created sql view model {MODELS}.{name}" in result.stdout
    tests = package_tests()
    assert f"Done. PASS={len(tests)} WARN=0 ERROR=0 SKIP=0" in result.stdout  # dbt's summary
    assert f"Built {len(ALL_VIEWS)} models in {MODELS}; {len(tests)} of {len(tests)} tests passed." in result.stdout
    assert "\x1b[" not in result.stdout  # no colour codes in a scheduler's log

    # One definition: each model has exactly the rows of the view of its name.
    query = duckdb_query(work / "agent-runs.duckdb")
    for name in ALL_VIEWS:
        count, differing = rows_differing(query, f"{DEMO}.{name}", f"{MODELS}.{name}")
        assert count > 0 and differing == 0, name


def test_data_that_breaks_the_contract_fails_the_test_named_for_it(demo: Path, tmp_path: Path) -> None:
    """A duplicated run, a status outside the accepted values, an end before its start, and (with
    its error threshold at 0 hours) a load too old: exit 1, naming exactly those four tests."""
    work = copy_of(demo, tmp_path)
    with duckdb.connect(str(work / "agent-runs.duckdb")) as connection:
        connection.execute(f"INSERT INTO {DEMO}.runs SELECT * FROM {DEMO}.runs WHERE status = 'completed' LIMIT 1")
        connection.execute(
            f"UPDATE {DEMO}.runs SET status = 'exploded' WHERE run_id = (SELECT min(run_id) FROM {DEMO}.runs)"
        )
        # Started well after it was created, so ending a second before the start is not before its creation.
        connection.execute(
            f"""UPDATE {DEMO}.runs SET finished_at = started_at - INTERVAL 1 SECOND WHERE run_id = (
                SELECT max(run_id) FROM {DEMO}.runs WHERE started_at > created_at + INTERVAL 5 SECOND)"""
        )
    result = agent_runs(work, "transform", "--var", "agent_runs_error_after_hours=0")
    assert result.returncode == 1, result.stdout[-3000:]
    failed = re.search(r"dbt failed in \S+ \(its output above shows the rows\): (.*)", result.stderr)
    assert failed, result.stderr
    assert set(failed.group(1).split(", ")) == {
        "runs_provider_run_id_unique",
        "runs_status_accepted_values",
        "runs_finished_at_not_before_started_at",
        "newest_load_is_recent",
    }


def test_a_load_older_than_the_warning_threshold_warns_from_python(
    demo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = copy_of(demo, tmp_path)
    monkeypatch.chdir(work)
    monkeypatch.setenv("DLT_DATA_DIR", str(work / "dlt-data"))
    report = transform_runs(dataset_name=DEMO, dbt_vars={"agent_runs_warn_after_hours": 0})
    assert report.warned == ["newest_load_is_recent"]
    assert len(report.models) == len(ALL_VIEWS) and len(report.tests) == len(package_tests())
    assert "warning: newest_load_is_recent" in str(report)


def test_what_dbt_cannot_do_here_is_a_configuration_error(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(TransformError, match=r"dbt-snowflake is not installed.*agent-runs\[dbt\]"):
        require_dbt("snowflake")
    with monkeypatch.context() as without_dbt:
        for module in [name for name in sys.modules if name.startswith("dbt.")]:
            without_dbt.delitem(sys.modules, module)
        without_dbt.setitem(sys.modules, "dbt", None)  # as if dbt were not installed at all
        with pytest.raises(TransformError, match=r"dbt-core is not installed"):
            require_dbt("duckdb")
    from agent_runs.loading.pipeline import make_pipeline

    files, _ = make_pipeline("filesystem", DEMO)
    with pytest.raises(TransformError, match="needs a SQL destination"):
        transform_pipeline(files)
    with pytest.raises(NoRunsLoaded, match=r"no runs loaded into duckdb .* dataset nothing_here yet"):
        transform_runs(dataset_name="nothing_here")
    result = agent_runs(workdir, "transform", "--dataset", "nothing_here")
    assert result.returncode == 2 and "run `agent-runs load` first" in result.stderr
    result = agent_runs(workdir, "transform", "--var", "no_equals_sign")
    assert result.returncode == 2 and "is not NAME=VALUE" in result.stderr


def test_a_dbt_project_of_your_own_builds_the_package_from_its_installed_path(demo: Path, tmp_path: Path) -> None:
    """As the README says: packages.yml names the installed package, a var names the dataset."""
    work = copy_of(demo, tmp_path)
    project = work / "my_project"
    project.mkdir()
    (project / "dbt_project.yml").write_text(
        f"name: my_project\nversion: '1.0'\nconfig-version: 2\nprofile: mine\nvars:\n  agent_runs_schema: {DEMO}\n"
    )
    (project / "packages.yml").write_text(f"packages:\n  - local: {PACKAGE_DIR}\n")
    (project / "profiles.yml").write_text(
        "mine:\n  target: dev\n  outputs:\n    dev:\n"
        f"      type: duckdb\n      path: {work / 'agent-runs.duckdb'}\n      schema: analytics\n"
    )
    deps, built, fresh, stale, docs = dbt_commands(
        project,
        ["deps"],
        ["build", "--select", "package:agent_runs"],
        ["source", "freshness"],  # dbt's own freshness check reads the same thresholds as the package's test
        ["source", "freshness", "--vars", "{agent_runs_warn_after_hours: 0, agent_runs_error_after_hours: 0}"],
        ["docs", "generate"],  # every column of the contract, with its description
    )
    assert deps.returncode == 0, deps.stdout[-3000:]
    assert built.returncode == 0, built.stdout[-3000:]
    assert f"PASS={len(ALL_VIEWS) + len(package_tests())} WARN=0 ERROR=0" in built.stdout
    count, differing = rows_differing(
        duckdb_query(work / "agent-runs.duckdb"), f"{DEMO}.run_costs", "analytics.run_costs"
    )
    assert count > 0 and differing == 0
    assert "PASS freshness of agent_runs._dlt_loads" in fresh.stdout
    assert stale.returncode == 1 and "ERROR STALE freshness of agent_runs._dlt_loads" in stale.stdout
    assert docs.returncode == 0, docs.stdout[-3000:]
    manifest = json.loads((project / "target" / "manifest.json").read_text())
    columns = manifest["sources"]["source.agent_runs.agent_runs.runs"]["columns"]
    assert {name: column["description"] for name, column in columns.items()} == {
        name: column["description"] for name, column in RUNS_COLUMNS.items()
    }
    catalog = json.loads((project / "target" / "catalog.json").read_text())
    assert set(catalog["sources"]["source.agent_runs.agent_runs.runs"]["columns"]) >= set(RUNS_COLUMNS)


# dbt's commands one after another in one process, through its programmatic entry point (dbtRunner),
# as the `dbt` command runs them: dbt's start-up is paid once, not once a command.
DBT_COMMANDS = """
import json, sys
from dbt.cli.main import dbtRunner
runner = dbtRunner()
for command in json.loads(sys.argv[1]):
    print("\\n=== dbt", flush=True)
    result = runner.invoke([*command, "--profiles-dir", ".", "--no-use-colors"])
    print(f"\\n=== exit {0 if result.success else 1}", flush=True)
"""


def dbt_commands(project: Path, *commands: list[str]) -> list[subprocess.CompletedProcess[str]]:
    """Each dbt command's exit code and output, run in `project` one after another."""
    ran = subprocess.run(
        [sys.executable, "-c", DBT_COMMANDS, json.dumps(commands)],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=600,
    )
    parts = re.findall(r"\n=== dbt\n(.*?)\n=== exit (\d)\n", ran.stdout, re.S)
    assert len(parts) == len(commands), ran.stdout[-3000:] + ran.stderr[-3000:]
    return [
        subprocess.CompletedProcess(command, int(code), output, "")
        for command, (output, code) in zip(commands, parts, strict=True)
    ]


def test_transform_waits_for_no_load_it_exits_1_while_one_runs(demo: Path, tmp_path: Path) -> None:
    """A load holding the pipeline's lock (an overlapping schedule): transform says so, builds nothing."""
    work = copy_of(demo, tmp_path)
    lock_dir = work / "dlt-data" / "pipelines" / f"agent_runs_duckdb_{DEMO}"
    assert lock_dir.is_dir()
    with FileLock(lock_dir / "agent-runs.lock"):
        result = agent_runs(work, "transform")
    assert result.returncode == 1 and "is running" in result.stderr
    assert not (lock_dir / "dbt").exists()


def test_a_python_named_only_python3_is_linked_for_dlts_runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from agent_runs.analytics.transform import this_environment

    bin_dir = tmp_path / "usr-bin"
    bin_dir.mkdir()
    (bin_dir / "python3").symlink_to(sys.executable)
    monkeypatch.setattr(sys, "executable", str(bin_dir / "python3"))
    venv = this_environment(tmp_path)
    assert venv.run_command("python", "-c", "print(6 * 7)").strip() == "42"

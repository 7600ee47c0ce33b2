"""`agent-runs transform`: the dbt package shipped in `agent_runs/analytics/dbt` (its models are the analytics
views, its tests the `runs` contract; see dbt_package.py) built on a pipeline's dataset by dlt's
dbt runner, with the pipeline's own credentials: the models, then the tests.

dbt runs in this Python environment (`pip install "agent-runs[dbt]"`), not in a venv dlt would
build at the first run (`dlt.dbt.get_venv`): that venv installs the newest dbt-core from the
internet when a scheduled load first transforms, and dbt-core 1.12 fetches a parser from GitHub as
it installs. The extra pins the versions the tests ran, installed with the connector.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dlt
import yaml
from dlt.common.runners import Venv
from dlt.pipeline.pipeline import Pipeline

from agent_runs.analytics.dbt_package import PACKAGE_DIR
from agent_runs.loading.loaded import writes_files
from agent_runs.loading.pipeline import make_pipeline, only_load_of, require_runs_table
from agent_runs.settings import DATASET_NAME, DBT_SCHEMA_SUFFIX

DBT_OK = frozenset({"success", "pass", "warn", "skipped"})  # a node's status when it did not fail


class TransformError(Exception):
    """dbt cannot run here, or not on this dataset (bad configuration: nothing was built)."""


class TransformFailed(Exception):
    """A model or a test failed: `failed` names them."""

    def __init__(self, failed: list[str], schema: str) -> None:
        self.failed = failed
        super().__init__(f"dbt failed in {schema} (its output above shows the rows): " + ", ".join(failed))


@dataclass
class TransformReport:
    """What `dbt run` and `dbt test` did, node by node (dlt's `DBTNodeResult`s)."""

    schema: str
    models: list[Any] = field(default_factory=list)
    tests: list[Any] = field(default_factory=list)

    @property
    def warned(self) -> list[str]:
        return [node.model_name for node in self.tests if node.status == "warn"]

    def __str__(self) -> str:
        passed = sum(node.status == "pass" for node in self.tests)
        lines = [f"Built {len(self.models)} models in {self.schema}; {passed} of {len(self.tests)} tests passed."]
        lines += [f"  warning: {name}" for name in self.warned]
        return "\n".join(lines)


def transform_runs(
    destination: str = "duckdb",
    dataset_name: str = DATASET_NAME,
    *,
    schema: str | None = None,
    dbt_vars: dict[str, Any] | None = None,
    pipeline_name: str | None = None,
) -> TransformReport:
    """Build the dbt package's models on the dataset's `runs` table, then run its tests.

    Args:
        destination: where the runs were loaded (the pipeline's credentials are dbt's).
        dataset_name: the dataset `agent-runs load` wrote (the package's source schema).
        schema: where the models are built; default: the dataset's name + `_dbt`.
        dbt_vars: dbt variables, e.g. {"agent_runs_warn_after_hours": 3}.
        pipeline_name: the pipeline that loaded them, if not the default one for this destination and dataset.

    Raises:
        NoRunsLoaded: the dataset has no `runs` table yet.
        TransformError: dbt or its adapter is missing, or the destination writes files.
        TransformFailed: a model or a test failed (a warning does not fail).
        LoadAlreadyRunning: a load of the pipeline is running.
    """
    pipeline, location = make_pipeline(destination, dataset_name, pipeline_name)
    require_runs_table(pipeline, location)
    return transform_pipeline(pipeline, schema=schema, dbt_vars=dbt_vars)


def transform_pipeline(
    pipeline: Pipeline, schema: str | None = None, dbt_vars: dict[str, Any] | None = None
) -> TransformReport:
    """`transform_runs` on a pipeline in hand (the Dagster step's)."""
    from dlt.helpers.dbt.exceptions import DBTProcessingError

    if writes_files(pipeline):
        raise TransformError("the destination writes files, and dbt needs a SQL destination (duckdb, postgres, …)")
    schema = schema or pipeline.dataset_name + DBT_SCHEMA_SUFFIX
    require_dbt(pipeline.destination.spec().destination_type)
    report = TransformReport(schema)
    with only_load_of(pipeline):  # DuckDB admits one writer; a load mid-merge is not the table to test
        directory = Path(pipeline.working_dir) / "dbt"
        package = working_copy(directory)
        runner = dlt.dbt.package(pipeline, str(package), venv=this_environment(directory))
        runner.config.package_profiles_dir = str(package.parent)
        runner.config.runtime.log_level = "INFO"  # dbt prints each model and test, and its summary
        colors = [] if sys.stdout.isatty() else ["--no-use-colors"]  # a scheduler's log gets no escape codes
        try:
            report.models = list(runner.run(["--fail-fast", *colors], dbt_vars, destination_dataset_name=schema))
            report.tests = list(runner.test(colors, dbt_vars, destination_dataset_name=schema))
        except DBTProcessingError as error:
            failed = [node.model_name for node in error.run_results or [] if node.status not in DBT_OK]
            stopped = f"dbt {error.command} stopped before running anything (its output above says why)"
            raise TransformFailed(failed or [stopped], schema) from None
    return report


def require_dbt(destination_type: str) -> None:
    """dbt and the adapter of the destination are importable here, or say what to install."""
    from dlt.helpers.dbt import DBT_DESTINATION_MAP

    adapter = DBT_DESTINATION_MAP.get(destination_type, destination_type)
    # `dbt.cli`, not `dbt.cli.main`: finding a module imports its parents, and `dbt.cli.main`'s
    # parents import most of dbt, which the dbt process imports again.
    for module, package in (("dbt.cli", "dbt-core"), (f"dbt.adapters.{adapter}", f"dbt-{adapter}")):
        if not installed(module):
            raise TransformError(
                f"{package} is not installed in this environment: pip install 'agent-runs[dbt]' "
                f"(dbt-core with the DuckDB and PostgreSQL adapters), or add {package} for your destination"
            )


def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a package above it is missing: find_spec imports the parents
        return False


def working_copy(directory: Path) -> Path:
    """The package copied beside the pipeline (dbt writes its target/ and logs/ into the project,
    which may be read-only where the connector is installed), with the profiles dbt reads."""
    package = directory / "agent_runs"
    for part in ("models", "macros"):
        shutil.rmtree(package / part, ignore_errors=True)
    shutil.copytree(PACKAGE_DIR, package, dirs_exist_ok=True)
    (directory / "profiles.yml").write_text(yaml.safe_dump(profiles(), sort_keys=False))
    return package


def profiles() -> dict[str, Any]:
    """dlt's dbt profiles, less what its DuckDB profile adds for dlt's Iceberg tables: extensions
    DuckDB downloads as it connects, which fails where only package registries can be reached."""
    import dlt.helpers.dbt

    with open(Path(dlt.helpers.dbt.__file__).parent / "profiles.yml") as file:
        profiles = yaml.safe_load(file)
    duckdb = profiles["duckdb"]["outputs"]["analytics"]
    duckdb.pop("extensions", None)
    duckdb.pop("settings", None)
    return profiles


def this_environment(directory: Path) -> Venv:
    """This Python environment, found by its interpreter: dlt's `Venv.restore_current()` runs
    `python` from PATH unless VIRTUAL_ENV is set, which a scheduler calling .venv/bin/agent-runs
    does not set. A system Python may be named only python3: then a link named python is made."""
    bin_path = Path(sys.executable).parent
    if not (bin_path / "python").exists():
        bin_path = directory / "bin"
        bin_path.mkdir(exist_ok=True)
        (bin_path / "python").unlink(missing_ok=True)
        (bin_path / "python").symlink_to(sys.executable)
    return Venv(types.SimpleNamespace(bin_path=str(bin_path), env_exe=sys.executable), current=True)

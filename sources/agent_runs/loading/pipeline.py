"""Running a load: the source into a destination, as `agent-runs load` does it, for use from
Python, a scheduler or the command line. Also what a pipeline of your own may reuse: finishing
an interrupted load first, and the analytics views beside `runs`."""

from __future__ import annotations

import gc
import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

import dlt
import pyarrow as pa
import pyarrow.compute as pc
from dlt.common.destination import Destination
from dlt.common.pipeline import LoadInfo
from dlt.destinations.exceptions import DatabaseException
from dlt.destinations.sql_client import SqlClientBase
from dlt.extract import DltResource, DltSource
from dlt.pipeline.exceptions import PipelineStepFailed
from dlt.pipeline.helpers import retry_schema_update
from dlt.pipeline.pipeline import Pipeline
from filelock import FileLock, Timeout
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random

from agent_runs.analytics.views import STEP_VIEWS, VIEWS, view_statements
from agent_runs.errors import LoadAlreadyRunning, NoRunsLoaded
from agent_runs.loading.loaded import has_loaded, writes_files
from agent_runs.loading.summary import LoadSummary, account_outcomes, open_runs_reports, runs_by_provider
from agent_runs.resources.source import agent_runs_source
from agent_runs.rows.schema import json_text_is_intended
from agent_runs.settings import (
    DATASET_NAME,
    DEFAULT_DUCKDB_FILE,
    DLT_PROGRESS_EVERY_S,
    GC_THRESHOLD,
    SCHEMA_RACE_PAUSE_S,
    SCHEMA_UPDATE_ATTEMPTS,
    SOURCE_NAME,
    STEPS_TABLE_NAME,
    TABLE_NAME,
)

DEFAULT_FILESYSTEM_DIR = "agent-runs-files"
logger = logging.getLogger(SOURCE_NAME)


def destination_for(name: str) -> tuple[Destination[Any, Any] | str, str]:
    """The destination, and where it writes. Local defaults need no configuration: DuckDB goes to
    ./agent-runs.duckdb and filesystem to ./agent-runs-files as Delta tables, unless configured."""
    if name == "duckdb":
        from agent_runs.loading.duckdb_merge import duckdb_destination  # DuckDB itself loads only when it is used

        configured = dlt.config.get("destination.duckdb.credentials")
        path = None if configured else str(Path(DEFAULT_DUCKDB_FILE).resolve())
        return duckdb_destination(path), path or "(as configured)"
    if name == "filesystem" and not dlt.config.get("destination.filesystem.bucket_url"):
        path = str(Path(DEFAULT_FILESYSTEM_DIR).resolve())
        return dlt.destinations.filesystem(path), path
    return name, "(as configured)"


def make_pipeline(
    destination: str,
    dataset_name: str,
    pipeline_name: str | None = None,
    progress: bool = False,
    staging_layout: str | None = None,
) -> tuple[Pipeline, str]:
    """One pipeline (so one incremental state) per destination and dataset: loading a second
    destination starts from the beginning instead of inheriting the first one's cursor.
    `staging_layout`: the warehouse's staging dataset for merges (dlt's `%s_staging` by default),
    so that pipelines merging into one table at once never share one."""
    dest, location = destination_for(destination)
    if staging_layout is not None and isinstance(dest, str):
        dest = Destination.from_reference(dest, staging_dataset_name_layout=staging_layout)
    pipeline = dlt.pipeline(
        pipeline_name=pipeline_name or f"agent_runs_{destination}_{dataset_name}",
        destination=dest,
        dataset_name=dataset_name,
        progress=dlt.progress.log(DLT_PROGRESS_EVERY_S, sys.stderr, dump_system_stats=False) if progress else None,
    )
    return pipeline, location


def load_runs(
    *,
    providers: Sequence[str] | None = None,
    destination: str = "duckdb",
    dataset_name: str = DATASET_NAME,
    since: datetime | date | str | None = None,
    until: datetime | date | str | None = None,
    full_refresh: bool = False,
    pipeline_name: str | None = None,
    open_runs_max_age_days: float | None = None,
    source: DltSource | None = None,
    progress: bool = False,
    workers: int | None = None,
    lag_minutes: float | None = None,
    staging_layout: str | None = None,
    views: bool = True,
    steps: bool = True,
    steps_since: datetime | date | str | None = None,
) -> LoadSummary:
    """What `agent-runs load` runs (its arguments are the command's options): finish what an
    interrupted load left, load new runs, bring open ones up to date, (re)create the views.

    Args:
        providers, since, until, open_runs_max_age_days, workers, lag_minutes, steps, steps_since: the
            source's arguments (agent_runs_source); lag_minutes None is its default.
        destination: a dlt destination name (duckdb: ./agent-runs.duckdb; filesystem: Delta tables in ./agent-runs-files).
        dataset_name / pipeline_name: the dataset (schema) to load into; the pipeline, by default
            `agent_runs_<destination>_<dataset>` (one state per destination and dataset).
        full_refresh: drop the loaded runs and the cursors, and load the whole history again.
        source: instead of the configured one (the demo's simulators); progress: dlt's progress on stderr.
        staging_layout: the merge's staging dataset (make_pipeline), for loads into one table at once.
        views: (re)create the analytics views after the load (a partitioned load leaves them to one step).
    """
    source = source or agent_runs_source(
        providers=providers, since=since, until=until, open_runs_max_age_days=open_runs_max_age_days, workers=workers,
        steps=steps, steps_since=steps_since, **({} if lag_minutes is None else {"lag_minutes": lag_minutes}),
    )  # fmt: skip
    pipeline, location = make_pipeline(destination, dataset_name, pipeline_name, progress, staging_layout)
    started = time.monotonic()
    as_delta_tables(source.resources.values(), pipeline)
    with (
        only_load_of(pipeline),
        database_kept_open(destination, location),
        fewer_gc_passes(),
        json_text_is_intended(),
        no_empty_database_left(location) as leave_nothing,
    ):
        finished = finish_interrupted_load(pipeline)
        load_info = run_retrying_schema_races(pipeline, source, refresh="drop_sources" if full_refresh else None)
        load_ids = [*finished, *load_info.loads_ids]
        by_list = runs_loaded(pipeline, load_ids)
        outcomes = account_outcomes(pipeline, source, by_list)
        if outcomes and all(outcome.failures for outcome in outcomes):  # not a run list loaded
            leave_nothing(pipeline)
        if views:
            create_views(pipeline, only_if_missing=not full_refresh and not any(by_list.values()))
    return LoadSummary(
        runs_by_provider(source, by_list), time.monotonic() - started, destination, dataset_name, pipeline.pipeline_name, location,
        load_ids, finished, open_runs_reports(pipeline, source), outcomes,
    )  # fmt: skip


def finish_interrupted_load(pipeline: Pipeline) -> list[str]:
    """Load what a killed or failed load left extracted or normalized, and return its load ids. dlt's
    `run` would do this and stop without extracting anything new: the table would stay behind
    the API although the command succeeded. Done first, the same command then loads what is new."""
    if not pipeline.has_pending_data:
        return []
    logger.info("finishing the load package(s) an interrupted load left in %s", pipeline.working_dir)
    load_info = run_retrying_schema_races(pipeline)
    return list(load_info.loads_ids) if load_info is not None else []


def run_retrying_schema_races(pipeline: Pipeline, *args: Any, **kwargs: Any) -> LoadInfo:
    """`pipeline.run(*args, **kwargs)`, then dlt's load step again while it fails to create or alter
    a table: pipelines loading one dataset at once (Dagster's partitions, each its own pipeline) race
    to create the same tables, and the loser's DDL fails. dlt documents the retry as safe
    (`retry_schema_update`: it reads the destination again and applies only what is missing); the
    package waits, normalized, in between."""
    attempts = Retrying(
        stop=stop_after_attempt(SCHEMA_UPDATE_ATTEMPTS),
        wait=wait_random(0, SCHEMA_RACE_PAUSE_S),
        retry=retry_if_exception(retry_schema_update()),
        before_sleep=lambda state: logger.warning(
            "pipeline %s: creating or altering a table raced another pipeline loading the dataset; "
            "loading again (attempt %d of %d)",
            pipeline.pipeline_name, state.attempt_number + 1, SCHEMA_UPDATE_ATTEMPTS,
        ),
        reraise=True,
    )  # fmt: skip
    steps = iter([lambda: pipeline.run(*args, **kwargs)])  # then only the load step, of the package it left
    return attempts(lambda: next(steps, pipeline.load)())


def require_runs_table(pipeline: Pipeline, location: str) -> None:
    """Raise NoRunsLoaded, naming the destination at `location` and the dataset, if the pipeline
    has not loaded `runs`."""
    if not has_loaded(pipeline, TABLE_NAME):
        raise NoRunsLoaded(
            f"no runs loaded into {pipeline.destination.destination_name} {location} dataset "
            f"{pipeline.dataset_name} yet: run `agent-runs load` first"
        )


def as_delta_tables(resources: Iterable[DltResource], pipeline: Pipeline) -> None:
    """Where the pipeline writes files, they keep the merge: a Delta table (Parquet files plus a
    transaction log any engine reads) is upserted on its primary key, where plain Parquet files
    could only be appended to."""
    for resource in resources if writes_files(pipeline) else ():
        resource.apply_hints(table_format="delta", write_disposition={"disposition": "merge", "strategy": "upsert"})


def create_views(pipeline: Pipeline, only_if_missing: bool = False) -> None:
    """(Re)create the analytics views (views.py) beside `runs`, in the destination's dialect; file
    destinations have no views, and neither does a dataset that has no `runs` table yet. A load
    that changed no row only creates the views that are missing (translating them takes a while)."""
    dialect = pipeline.destination.capabilities().sqlglot_dialect
    if writes_files(pipeline) or dialect is None or not has_loaded(pipeline, TABLE_NAME):
        return
    with pipeline.sql_client() as client:
        if only_if_missing and existing_views(client) >= set(VIEWS) | set(STEP_VIEWS):
            return
        has_steps = has_loaded(pipeline, STEPS_TABLE_NAME)
        steps = client.make_qualified_table_name(STEPS_TABLE_NAME) if has_steps else None
        for statement in view_statements(
            client.make_qualified_table_name(TABLE_NAME), client.make_qualified_table_name, dialect, steps
        ):
            client.execute_sql(statement)


def existing_views(client: SqlClientBase[Any]) -> set[str]:
    """The views in the dataset, from information_schema; none when the destination cannot say."""
    query = "SELECT table_name FROM information_schema.tables WHERE table_schema = %s AND table_type = 'VIEW'"
    try:
        return {name for (name,) in client.execute_sql(query, client.dataset_name) or []}
    except DatabaseException:
        return set()


@contextmanager
def only_load_of(pipeline: Pipeline) -> Iterator[None]:
    """Hold the pipeline's lock for the load: two loads of one pipeline at once (an overlapping
    schedule) would race on its state and files. The OS frees the lock if the process dies."""
    lock = FileLock(Path(pipeline.working_dir) / "agent-runs.lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise LoadAlreadyRunning(
            f"another load of pipeline {pipeline.pipeline_name} is running (lock {lock.lock_file}); "
            "this one did nothing. Let it finish, or schedule loads further apart."
        ) from None
    try:
        yield
    finally:
        lock.release()


@contextmanager
def database_kept_open(destination: str, location: str) -> Iterator[None]:
    """The DuckDB file at `location` held open while the block runs (a load's steps and the views),
    if it exists: each step opens the database and closes it again, and each close writes a
    checkpoint, while DuckDB hands a second connection in this process the database already open.
    A file the load has not created yet is left alone, so that a first load that fails leaves none."""
    if destination != "duckdb" or not Path(location).is_file():
        yield
        return
    import duckdb

    with duckdb.connect(location):
        yield


@contextmanager
def no_empty_database_left(location: str) -> Iterator[Callable[[Pipeline], None]]:
    """A first load that fails before it extracted anything (a key rejected, an API out of reach,
    for every account) leaves no DuckDB file behind: dlt creates it when it first looks for state
    there. Gives what to call when every account failed: then nothing is kept of the first load."""
    database = Path(location)
    was_there = database.suffix != ".duckdb" or database.exists()

    def remove() -> None:
        for leftover in (database, database.with_name(database.name + ".wal")):
            leftover.unlink(missing_ok=True)

    def leave_nothing(pipeline: Pipeline) -> None:
        if not was_there:
            remove()
            pipeline.drop()  # its local state: as if this load had never run

    try:
        yield leave_nothing
    except PipelineStepFailed as error:
        if not was_there and error.step in ("sync", "extract"):
            remove()
        raise


@contextmanager
def fewer_gc_passes() -> Iterator[None]:
    """The cycle collector's first threshold raised to GC_THRESHOLD for the load, then put back."""
    thresholds = gc.get_threshold()
    gc.set_threshold(max(GC_THRESHOLD, thresholds[0]), *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


def runs_loaded(pipeline: Pipeline, load_ids: Sequence[str]) -> dict[tuple[str, str, str], int]:
    """Rows each provider's account and run list added or updated in these loads, read back from
    the destination (they share one table, so dlt's per-table metrics cannot tell them apart)."""
    counts: dict[tuple[str, str, str], int] = {}
    if not load_ids or not has_loaded(pipeline, TABLE_NAME):  # every account failed before any run
        return counts
    if writes_files(pipeline):  # read the Delta table itself
        from dlt.common.libs.deltalake import get_delta_tables  # deltalake is heavy to import: only where used

        keys = ["provider", "account", "run_family"]
        table = get_delta_tables(pipeline, TABLE_NAME)[TABLE_NAME].to_pyarrow_table(columns=[*keys, "_dlt_load_id"])
        loaded = table.filter(pc.is_in(table["_dlt_load_id"], pa.array(list(load_ids))))
        for row in loaded.group_by(keys).aggregate([("provider", "count")]).to_pylist():
            counts[row["provider"], row["account"], row["run_family"]] = row["provider_count"]
        return counts
    quoted = ", ".join(f"'{load_id}'" for load_id in load_ids)
    query = (
        f"SELECT provider, account, run_family, count(*) FROM {TABLE_NAME} WHERE _dlt_load_id IN ({quoted}) "
        "GROUP BY provider, account, run_family"
    )
    with pipeline.sql_client() as client:
        for provider, account, run_family, count in client.execute_sql(query):
            counts[provider, account, run_family] = int(count)
    return counts

"""PostgreSQL as the warehouse, for real: the same scenario (a first load, runs finishing, new runs,
a load with nothing new) into PostgreSQL and DuckDB side by side ends with the same rows and the
same views. `.ci/run` starts a server on loopback and sets AGENT_RUNS_TEST_POSTGRES."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from agent_runs.analytics.views import ALL_VIEWS
from agent_runs.loading.pipeline import load_runs, make_pipeline
from agent_runs.settings import DBT_SCHEMA_SUFFIX
from tests.utils import rows_differing

POSTGRES = os.environ.get("AGENT_RUNS_TEST_POSTGRES")
pytestmark = [
    pytest.mark.skipif(
        not POSTGRES, reason="AGENT_RUNS_TEST_POSTGRES is not set (.ci/run starts a PostgreSQL server and sets it)"
    ),
    pytest.mark.runs(
        tinyfish=150, browserbase=150, browser_use=150, skyvern=150
    ),  # two warehouses agree whatever the size: a few pages each
]
JSON_COLUMNS = {"result", "result_schema", "extra"}


@pytest.fixture
def dataset(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A dataset of its own in the shared server, dropped afterwards."""
    monkeypatch.setenv("DESTINATION__POSTGRES__CREDENTIALS", POSTGRES or "")
    name = f"agent_runs_{uuid.uuid4().hex[:8]}"
    yield name
    pipeline, _ = make_pipeline("postgres", name)
    with pipeline.sql_client() as client:
        client.drop_dataset()
        client.execute_sql(f"DROP SCHEMA IF EXISTS {name}{DBT_SCHEMA_SUFFIX} CASCADE")  # transform's models


def rows_of(destination: str, dataset: str, relation: str, order_by: str) -> list[dict[str, Any]]:
    pipeline, _ = make_pipeline(destination, dataset)
    with (
        pipeline.sql_client() as client,
        client.execute_query(
            f"SELECT * FROM {client.make_qualified_table_name(relation)} ORDER BY {order_by}"
        ) as cursor,
    ):
        names = [column[0] for column in cursor.description]
        rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
    json_text = destination == "duckdb"  # DuckDB gives JSON back as text, PostgreSQL decoded
    return [
        {name: comparable(name, value, json_text) for name, value in row.items() if name != "_dlt_load_id"}
        for row in rows
    ]


def comparable(name: str, value: Any, json_text: bool) -> Any:
    """One form for both databases: JSON decoded, numbers as floats, dates and times as they are
    (but when each noticed a run had gone: only that it did)."""
    if name == "missing_from_api_at":
        return value is not None
    if name in JSON_COLUMNS and json_text and isinstance(value, str):
        return json.loads(value)
    if isinstance(value, Decimal):
        return float(value)
    return value


def assert_same(dataset: str, relation: str, order_by: str) -> int:
    duckdb_rows = rows_of("duckdb", dataset, relation, order_by)
    postgres_rows = rows_of("postgres", dataset, relation, order_by)
    assert len(postgres_rows) == len(duckdb_rows)
    for in_postgres, in_duckdb in zip(postgres_rows, duckdb_rows, strict=True):
        assert in_postgres.keys() == in_duckdb.keys()
        for name, value in in_duckdb.items():
            if isinstance(value, float):
                assert in_postgres[name] == pytest.approx(value, rel=1e-9, abs=1e-6), (relation, name)
            else:
                assert in_postgres[name] == value, (relation, name)
    return len(duckdb_rows)


@pytest.mark.long
def test_postgres_and_duckdb_end_with_the_same_rows_and_views(
    provider_env: dict[str, str], simulators: dict[str, Any], dataset: str
) -> None:
    # A first load; twice runs finish and new ones arrive (and an open run disappears from each
    # API: its row, read back from each warehouse, is kept and flagged); then a load with nothing new.
    gone = []
    for advance_minutes in (40, 40, 0, None):
        summaries = [
            load_runs(destination=name, dataset_name=dataset, steps_since="2000-01-01")
            for name in ("duckdb", "postgres")
        ]
        assert summaries[0].runs_by_provider == summaries[1].runs_by_provider
        assert assert_same(dataset, "runs", "provider, run_id") == len(gone) + sum(
            len(simulator.current_runs()) for simulator in simulators.values()
        )
        for simulator in simulators.values():
            if not gone or (len(gone) < len(simulators) and simulator.removed == set()):
                run = next(run for run in simulator.visible_runs() if run.finished_us is None)
                simulator.removed.add(run.run_id)
                gone.append(run.run_id)
            simulator.clock.advance((advance_minutes or 0) * 60)
    flagged = {row["run_id"] for row in rows_of("postgres", dataset, "runs", "run_id") if row["missing_from_api_at"]}
    assert flagged == set(gone)

    orders = {"open_runs": "provider, run_id", "run_failures": "1, 2, 3, 4"}
    orders |= {"last_steps_before_failure": "1, 2, 3, 4, 5", "looping_runs": "1, 2, 3, 4, 5"}
    for view in ALL_VIEWS:
        if view == "open_runs":  # age_hours moves with the clock between the two queries
            continue
        assert assert_same(dataset, view, orders.get(view, "1, 2, 3")) > 0, view


def test_rows_read_back_from_postgres_keep_json_strings_as_json(
    provider_env: dict[str, str], browser_use: Any, dataset: str
) -> None:
    """A JSON column holding a string or an object (Browser Use's output, decoded where it is JSON)
    reads back as the same JSON from either warehouse (jsonb writes its own spacing), so an
    unchanged run is not written again and a kept row stays valid JSON."""
    from agent_runs.loading.loaded import LoadedRuns
    from agent_runs.providers.browser_use import BROWSER_USE

    finished = [run.run_id for run in browser_use.visible_runs() if run.family == "v2_tasks" and run.finished_us]
    read_back = {}
    for destination in ("duckdb", "postgres"):
        load_runs(destination=destination, dataset_name=dataset, providers=["browser_use"])
        with LoadedRuns(make_pipeline(destination, dataset)[0], BROWSER_USE, "default", "v2_tasks") as loaded:
            read_back[destination] = loaded.rows(finished[:20]).sort_by("run_id").column("result").to_pylist()
    decoded = {
        name: [None if text is None else json.loads(text) for text in texts] for name, texts in read_back.items()
    }
    assert decoded["postgres"] == decoded["duckdb"]
    assert {type(value) for value in decoded["postgres"]} >= {str, dict}  # text and structured output both


def test_verify_finds_and_repairs_drift_in_postgres(
    provider_env: dict[str, str], simulators: dict[str, Any], dataset: str
) -> None:
    """An exact PostgreSQL table verifies with no false drift (JSON as jsonb, timestamps read back);
    a row edited there and a run that leaves a list are named, then repaired."""
    import psycopg2

    from agent_runs.loading.verify import verify_runs

    load_runs(destination="postgres", dataset_name=dataset)
    assert not verify_runs(destination="postgres", dataset_name=dataset).drifted
    run = next(run for run in simulators["tinyfish"].visible_runs() if run.finished_us is not None)
    gone = next(run for run in simulators["browserbase"].visible_runs() if run.finished_us is not None)
    simulators["browserbase"].removed.add(gone.run_id)
    with psycopg2.connect(POSTGRES) as connection, connection.cursor() as cursor:
        cursor.execute(f"UPDATE {dataset}.runs SET task = 'edited' WHERE run_id = %s", [run.run_id])
    report = verify_runs(destination="postgres", dataset_name=dataset, repair=True)
    drifts = {drift.run_id: (drift.kind, set(drift.columns)) for each in report.lists for drift in each.drifts}
    assert drifts == {run.run_id: ("differs", {"task"}), gone.run_id: ("extra", set())}
    assert not verify_runs(destination="postgres", dataset_name=dataset).drifted


def test_transform_builds_every_model_and_passes_every_test_in_postgres(
    provider_env: dict[str, str], dataset: str
) -> None:
    """dbt-postgres with dlt's profile and the pipeline's credentials; the models hold the views' rows."""
    from agent_runs.analytics.transform import transform_runs

    load_runs(destination="postgres", dataset_name=dataset, steps_since="2000-01-01")
    report = transform_runs(destination="postgres", dataset_name=dataset)
    assert sorted(node.model_name for node in report.models) == sorted(ALL_VIEWS)
    assert report.tests and all(node.status == "pass" for node in report.tests)

    pipeline, _ = make_pipeline("postgres", dataset)
    with pipeline.sql_client() as client:

        def query(sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
            with client.execute_query(sql) as cursor:
                return [column[0] for column in cursor.description], cursor.fetchall()

        for name in ALL_VIEWS:
            count, differing = rows_differing(query, f"{dataset}.{name}", f"{dataset}{DBT_SCHEMA_SUFFIX}.{name}")
            assert count > 0 and differing == 0, name


def test_pipelines_first_loading_one_dataset_at_once_both_load_though_their_tables_race(
    provider_env: dict[str, str], tinyfish: Any, browserbase: Any, dataset: str, workdir: Path
) -> None:
    """Two pipelines (as Dagster's partitions are: one an account) first load one dataset at once.
    One has read that the tables are missing when the other creates them, so its CREATE TABLE fails;
    its load step is tried again, and both accounts' runs are in the table."""
    from dlt.destinations.job_client_impl import SqlJobClientBase

    from agent_runs.resources.source import agent_runs_source

    read, go = workdir / "tables-read", workdir / "go"

    def appears(signal: Path) -> bool:
        """Whether the other process makes `signal` within a minute."""
        deadline = time.monotonic() + 60
        while not signal.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        return signal.exists()

    def load(provider: str) -> bool:
        summary = load_runs(
            source=agent_runs_source(providers=[provider]), destination="postgres", dataset_name=dataset,
            pipeline_name=f"{dataset}_{provider}", staging_layout=f"%s_staging_{provider}", views=False,
        )  # fmt: skip
        return not summary.failed

    pid = os.fork()
    if pid == 0:  # the child: Browserbase's pipeline, held after it read that `runs` is missing
        code = 1
        try:
            found_tables = SqlJobClientBase.get_storage_tables

            def held_after_reading(client: Any, table_names: Any) -> Any:
                tables = list(found_tables(client, table_names))
                if client.sql_client.dataset_name == dataset and not read.exists() and not dict(tables).get("runs"):
                    read.touch()
                    appears(go)
                return tables

            SqlJobClientBase.get_storage_tables = held_after_reading  # type: ignore[method-assign]
            code = 0 if load("browserbase") else 1
        finally:
            os._exit(code)
    try:
        assert appears(read), "the Browserbase pipeline never read the dataset's tables"
        assert load("tinyfish")  # creates the tables meanwhile
    finally:
        go.touch()
        _, status = os.waitpid(pid, 0)
    try:
        assert os.waitstatus_to_exitcode(status) == 0, "the pipeline that lost the race failed"
        providers = [row["provider"] for row in rows_of("postgres", dataset, "runs", "provider, run_id")]
        assert Counter(providers) == {
            "tinyfish": len(tinyfish.current_runs()),
            "browserbase": len(browserbase.current_runs()),
        }
    finally:
        pipeline, _ = make_pipeline("postgres", dataset)
        with pipeline.sql_client() as client:
            for provider in ("tinyfish", "browserbase"):
                client.execute_sql(f"DROP SCHEMA IF EXISTS {dataset}_staging_{provider} CASCADE")

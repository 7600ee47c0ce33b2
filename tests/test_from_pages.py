"""Where pages become rows (rows/from_pages.py), as a unit: canned pages of a simulation's records,
no HTTP, no destination. Runs in a second; a fix in "page -> rows" is tried here first."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pytest

from agent_runs import PROVIDERS
from agent_runs.errors import MalformedPage
from agent_runs.reading.paging import Page
from agent_runs.rows.from_pages import page_rows, rows_of_pages
from agent_runs.rows.schema import JSON_COLUMNS, RUNS_ARROW_SCHEMA, RUNS_COLUMNS
from agent_runs.simulators import TinyFishSimulator, simulator_class

TINYFISH = PROVIDERS["tinyfish"].lists[0]


def canned_pages(simulator: Any, sizes: list[int]) -> list[Page]:
    """The simulation's runs as its list shows them, cut into pages of these sizes (not served)."""
    now = simulator.clock.now_us
    records = [simulator.render(run, now) for run in simulator.visible_runs()]
    pages, start = [], 0
    for number, size in enumerate(sizes):
        pages.append(Page(records[start : start + size], f"/v1/runs?page={number}", None, 0.0))
        start += size
    return pages


def as_rows(table: pa.Table) -> dict[str, dict[str, Any]]:
    rows = table.to_pylist()
    for row in rows:
        for column in JSON_COLUMNS:
            row[column] = None if row[column] is None else json.loads(row[column])
    return {row["run_id"]: row for row in rows}


def test_pages_are_joined_until_they_hold_min_runs_and_keep_every_run_in_order() -> None:
    simulator = TinyFishSimulator(api_key="unused", runs=45, seed=3)
    pages = canned_pages(simulator, [10, 10, 10, 10, 5])
    batches = list(rows_of_pages(TINYFISH, pages, "default", min_runs=25))
    assert [batch.num_rows for batch in batches] == [30, 15]
    listed = [record["run_id"] for page in pages for record in page.records]
    assert [run_id for batch in batches for run_id in batch["run_id"].to_pylist()] == listed
    assert all(batch.schema.equals(RUNS_ARROW_SCHEMA) for batch in batches)


def test_a_listing_without_runs_is_one_empty_batch_unless_none_is_asked_for() -> None:
    empty = [Page([], "/v1/runs", None, 0.0)]
    assert [batch.num_rows for batch in rows_of_pages(TINYFISH, empty, "default")] == [0]
    assert list(rows_of_pages(TINYFISH, empty, "default", at_least_one=False)) == []


def test_a_run_that_cannot_be_keyed_fails_naming_the_pages_it_came_from() -> None:
    simulator = TinyFishSimulator(api_key="unused", runs=12, seed=3)
    pages = canned_pages(simulator, [6, 6])
    del pages[1].records[2]["run_id"]
    with pytest.raises(MalformedPage, match=r"/v1/runs\?page=1 or one of the 1 before it"):
        list(rows_of_pages(TINYFISH, pages, "default", min_runs=12))


@pytest.mark.parametrize("provider", ["tinyfish", "browserbase"])
def test_a_page_becomes_the_rows_the_simulation_holds_true(provider: str) -> None:
    """Lists whose records are the whole truth of a run (no read by id adds to them): each page's
    rows equal the simulation's own rows, column for column, never computed by the mapping."""
    simulator = simulator_class(provider)(api_key="unused", runs=60, seed=5, new_fields=True)
    (page,) = canned_pages(simulator, [60])
    rows = as_rows(page_rows(PROVIDERS[provider].lists[0], page.records, page.url, "acme"))
    truth = simulator.current_truth("acme")
    assert set(rows) == set(truth)
    for run_id, want in truth.items():
        assert {column: rows[run_id][column] for column in RUNS_COLUMNS} == want, run_id

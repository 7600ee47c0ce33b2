"""Reading the steps of runs (for `run_steps`): the requests that read them, one a run (every page
of its steps) or the list's batch read where the API has one, in the walks' shared pool, and
their records as `run_steps` rows. Which runs' steps a load reads is resources/steps_outbox.py's."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any

import pyarrow as pa

from agent_runs.errors import MalformedPage
from agent_runs.reading.lister import Lister
from agent_runs.reading.paging import body_value
from agent_runs.reading.walks.tasks import in_background
from agent_runs.rows.from_steps import step_rows
from agent_runs.sending.by_id import answered_each, batch_records, get_json


def read_steps(lister: Lister, run_ids: list[str]) -> Generator[None, None, list[pa.Table]]:
    """The `run_steps` rows of these runs, read in the shared pool; None while they are on their
    way (dlt serves the other accounts meanwhile)."""
    steps = []
    for read in in_background(steps_tables(lister, run_ids)) if run_ids else ():
        if read is None:
            yield None
        elif read.num_rows:
            steps.append(read)
    return steps


def steps_tables(lister: Lister, run_ids: list[str]) -> Iterator[pa.Table]:
    """The `run_steps` rows of these runs, a batch at a time (a run the API no longer knows has none)."""
    run_list = lister.run_list
    read = run_list.steps
    assert read is not None
    if read.batch:
        batch = run_list.batch_read
        assert batch is not None, f"{run_list.runs_path}: steps in a batch read that is not declared"
        for start in range(0, len(run_ids), batch.max_ids):
            yield step_rows(run_list, lister.account, batch_steps(lister, run_ids[start : start + batch.max_ids]))
        return
    for chunk in answered_each(lambda run_id: steps_of_run(lister, run_id), run_ids):
        yield step_rows(run_list, lister.account, {run_id: steps for run_id, steps in chunk if steps is not None})


def batch_steps(lister: Lister, run_ids: list[str]) -> dict[str, list[Any]]:
    """The steps of up to `max_ids` runs, read in one request of the list's batch read."""
    run_list, read = lister.run_list, lister.run_list.steps
    assert read is not None and run_list.batch_read is not None
    records, _ = batch_records(run_list, lister.client(), run_ids, read.params)
    path = run_list.batch_read.path
    return {
        run_id: steps_in(run_list.provider.display_name, path, record, read.records_path)
        for run_id, record in records.items()
    }


def steps_of_run(lister: Lister, run_id: str) -> list[Any] | None:
    """One run's steps, every page of them; None when the API answers 404 (the run is gone)."""
    run_list, read = lister.run_list, lister.run_list.steps
    assert read is not None
    path, params, steps = read.path(run_id), dict(read.params), []
    client = lister.client()
    while True:
        body = get_json(run_list, client, path, params)
        if body is None:
            return None
        steps += steps_in(run_list.provider.display_name, path, body, read.records_path)
        cursor = read.cursor
        if cursor is None:
            return steps
        more = body_value(body, cursor.has_more_path) if cursor.has_more_path else True
        after = body_value(body, cursor.cursor_path)
        if not more or after is None or after == params.get(cursor.cursor_param):
            return steps
        params[cursor.cursor_param] = after


def steps_in(provider: str, path: str, body: Any, records_path: str) -> list[Any]:
    steps = body_value(body, records_path) if records_path else body
    if steps is None:
        return []
    if not isinstance(steps, list):
        raise MalformedPage(f"{provider}: {path}: expected a list of steps at `{records_path or 'the body'}`")
    return steps

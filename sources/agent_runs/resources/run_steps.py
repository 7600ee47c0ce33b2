"""The resource that writes `run_steps`: the steps every account's resources read in a load, as
they come out of the outbox (steps_outbox.py)."""

from __future__ import annotations

from collections.abc import Iterator

import dlt
import pyarrow as pa
from dlt.extract import DltResource

from agent_runs.resources.steps_outbox import StepsOutbox
from agent_runs.rows.schema import RUN_STEPS_ARROW_SCHEMA, into_steps_table
from agent_runs.settings import STEPS_TABLE_NAME


def run_steps_resource(outbox: StepsOutbox) -> DltResource:
    """The steps every account's resources read in this load, merged into `run_steps`: one
    resource for the source, as dlt's work per resource (its hints, state and metrics at every
    load) is what grows with the number of accounts."""
    return into_steps_table(handed_on, STEPS_TABLE_NAME)(outbox)


def handed_on(outbox: StepsOutbox) -> Iterator[pa.Table | None]:
    """The outbox's tables as they come, until every resource that fills it (of those the load
    extracts) has finished; None while it waits."""
    selected = set(dlt.current.source().selected_resources)
    yield RUN_STEPS_ARROW_SCHEMA.empty_table()  # the table exists (for its views and tests) before a run has ended
    while True:
        while outbox.tables:
            yield outbox.tables.popleft()
        if (outbox.producers & selected) <= outbox.finished:
            while outbox.tables:
                yield outbox.tables.popleft()
            return
        yield None

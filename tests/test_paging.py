"""Reading a list (reading/paging.py, rows/from_pages.py): pages joined for mapping, every run once and in order; an
empty listing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from agent_runs import PROVIDERS
from agent_runs.reading.lister import Lister
from agent_runs.sending.transport import runs_client
from agent_runs.simulators import TinyFishSimulator


@pytest.mark.runs(tinyfish=450)  # four full pages and a half one
def test_pages_are_joined_for_mapping_with_every_run_once_in_order(tinyfish: TinyFishSimulator) -> None:
    provider = PROVIDERS["tinyfish"].lists[0]  # pages of 100
    lister = Lister(provider, lambda: runs_client(tinyfish.base_url, "X-API-Key", tinyfish.api_key), "default")
    params = lister.params(None, None)
    by_page = list(lister.rows(params))
    joined = list(lister.rows(params, min_runs=250))

    assert [page.num_rows for page in by_page] == [100, 100, 100, 100, 50]
    assert [page.num_rows for page in joined] == [300, 150]
    run_ids = [run_id for page in by_page for run_id in page["run_id"].to_pylist()]
    assert [run_id for page in joined for run_id in page["run_id"].to_pylist()] == run_ids
    assert len(set(run_ids)) == 450


def test_an_empty_listing_is_one_empty_page(tinyfish: TinyFishSimulator) -> None:
    provider = PROVIDERS["tinyfish"].lists[0]
    lister = Lister(provider, lambda: runs_client(tinyfish.base_url, "X-API-Key", tinyfish.api_key), "default")
    future = datetime.now(UTC) + timedelta(days=3650)
    pages = list(lister.rows(lister.params(future, None), min_runs=1000))
    assert [page.num_rows for page in pages] == [0]

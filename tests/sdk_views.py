"""The APIs' current view, read through the official SDKs: an independent client, so the
tests compare the loaded table with what the providers' own code makes of the wire format."""

from __future__ import annotations

from typing import Any

import browserbase
import tinyfish

from agent_runs.simulators import BrowserbaseSimulator, TinyFishSimulator


def tinyfish_runs(simulator: TinyFishSimulator, **filters: Any) -> list[Any]:
    client = tinyfish.TinyFish(api_key=simulator.api_key, base_url=simulator.base_url)
    runs, cursor = [], None
    while True:
        page = client.runs.list(limit=100, cursor=cursor, **filters)
        runs.extend(page.data)
        if not page.pagination.has_more:
            return runs
        cursor = page.pagination.next_cursor


def browserbase_runs(simulator: BrowserbaseSimulator, **filters: Any) -> list[Any]:
    client = browserbase.Browserbase(api_key=simulator.api_key, base_url=simulator.base_url)
    runs: list[Any] = []
    cursor: Any = browserbase.omit
    while True:
        page = client.agents.runs.list(limit=1000, cursor=cursor, **filters)
        runs.extend(page.data)
        if page.next_cursor is None:
            return runs
        cursor = page.next_cursor

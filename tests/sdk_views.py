"""The APIs' current view, read through the official SDKs: an independent client, so the
tests compare the loaded table with what the providers' own code makes of the wire format."""

from __future__ import annotations

from typing import Any

import browser_use_sdk.v2 as browser_use_v2
import browser_use_sdk.v4 as browser_use_v4
import browserbase
import skyvern.client
import tinyfish

from agent_runs.simulators import BrowserbaseSimulator, TinyFishSimulator
from agent_runs.simulators.browser_use import BrowserUseSimulator
from agent_runs.simulators.skyvern import SkyvernSimulator


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


def browser_use_tasks(simulator: BrowserUseSimulator, **filters: Any) -> list[Any]:
    """Every v2 task, page by page, through the SDK's v2 client (its models validate each page)."""
    client = browser_use_v2.BrowserUse(api_key=simulator.api_key, base_url=f"{simulator.base_url}/api/v2")
    tasks, number = [], 1
    while True:
        page = client.tasks.list(page_size=100, page_number=number, **filters)
        tasks.extend(page.items)
        if number * 100 >= page.total_items:
            return tasks
        number += 1


def browser_use_runs(simulator: BrowserUseSimulator) -> list[Any]:
    """Every v4 run, newest first, through the SDK's v4 client."""
    client = browser_use_v4.BrowserUse(api_key=simulator.api_key, base_url=f"{simulator.base_url}/api/v4")
    runs, cursor = [], None
    while True:
        page = client.runs.list(limit=100, cursor=cursor)
        runs.extend(page.runs)
        if not page.has_more:
            return runs
        cursor = page.next_cursor


def skyvern_client(simulator: SkyvernSimulator) -> Any:
    return skyvern.client.Skyvern(api_key=simulator.api_key, base_url=simulator.base_url)


def skyvern_workflow_runs(simulator: SkyvernSimulator, **filters: Any) -> list[Any]:
    """Every workflow run, page by page, through the SDK (Fern models validate each row)."""
    client, runs, page = skyvern_client(simulator), [], 1
    while True:
        rows = client.get_workflow_runs(page=page, page_size=100, **filters)
        runs.extend(rows)
        if len(rows) < 100:
            return runs
        page += 1


def skyvern_task_runs(simulator: SkyvernSimulator, **filters: Any) -> list[Any]:
    """Every run `/v1/runs` reaches (100 pages of 100), through the SDK."""
    client, runs = skyvern_client(simulator), []
    for page in range(1, 101):
        rows = client.get_runs_v2(page=page, page_size=100, **filters)
        runs.extend(rows)
        if len(rows) < 100:
            break
    return runs

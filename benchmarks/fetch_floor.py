"""The fetch floor: every page of both list-runs endpoints with plain `requests` and orjson, nothing
kept or loaded. No connector can copy the runs for less than this; the benchmark compares with it.

Reads TINYFISH_BASE_URL / TINYFISH_API_KEY / BROWSERBASE_BASE_URL / BROWSERBASE_API_KEY.
"""

from __future__ import annotations

import os

import orjson
import requests

ENDPOINTS = {
    # provider: (path, key header, params, cursor location)
    "TINYFISH": ("/v1/runs", "X-API-Key", {"limit": 100, "sort_direction": "asc"}, "pagination"),
    "BROWSERBASE": ("/v1/agents/runs", "X-BB-API-Key", {"limit": 1000}, None),
}


def fetch_all(base_url: str, path: str, header: str, api_key: str, params: dict[str, object], nest: str | None) -> int:
    session = requests.Session()
    session.headers[header] = api_key
    runs, cursor = 0, None
    while True:
        response = session.get(base_url + path, params={**params, **({"cursor": cursor} if cursor else {})})
        response.raise_for_status()
        body = orjson.loads(response.content)
        runs += len(body["data"])
        cursor = body[nest]["next_cursor"] if nest else body.get("nextCursor")
        if not cursor:
            return runs


def main() -> None:
    counts = {
        name: fetch_all(os.environ[f"{name}_BASE_URL"], path, header, os.environ[f"{name}_API_KEY"], params, nest)
        for name, (path, header, params, nest) in ENDPOINTS.items()
    }
    print(orjson.dumps(counts).decode())


if __name__ == "__main__":
    main()

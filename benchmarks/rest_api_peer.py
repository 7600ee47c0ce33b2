"""The peer: dlt's declarative `rest_api` source configured as a dlt user would for the two
list-runs endpoints (cursor paginator, incremental on the created-at field, merge on the run id),
loaded into DuckDB. Same environment variables as fetch_floor.py; the DuckDB file is argv[1].
"""

from __future__ import annotations

import os
import sys
from typing import Any

import dlt
from dlt.sources.rest_api import rest_api_source


def provider_source(name: str, header: str, path: str, params: dict[str, Any], cursor_path: str, created: str) -> Any:
    return rest_api_source(
        {
            "client": {
                "base_url": os.environ[f"{name.upper()}_BASE_URL"],
                "auth": {"type": "api_key", "name": header, "api_key": os.environ[f"{name.upper()}_API_KEY"]},
                "paginator": {"type": "cursor", "cursor_path": cursor_path, "cursor_param": "cursor"},
            },
            "resources": [
                {
                    "name": f"{name}_runs",
                    "primary_key": "run_id" if name == "tinyfish" else "runId",
                    "write_disposition": "merge",
                    "endpoint": {
                        "path": path,
                        "params": params,
                        "data_selector": "data",
                        "incremental": {"cursor_path": created, "initial_value": "1970-01-01T00:00:00Z"},
                    },
                }
            ],
        },
        name=name,
    )


def main() -> None:
    pipeline = dlt.pipeline(
        "rest_api_peer", destination=dlt.destinations.duckdb(sys.argv[1]), dataset_name="rest_api_peer"
    )
    pipeline.run(
        [
            provider_source(
                "tinyfish",
                "X-API-Key",
                "/v1/runs",
                {"limit": 100, "sort_direction": "asc"},
                "pagination.next_cursor",
                "created_at",
            ),
            provider_source(
                "browserbase", "X-BB-API-Key", "/v1/agents/runs", {"limit": 1000}, "nextCursor", "createdAt"
            ),
        ]
    )
    with pipeline.sql_client() as client:
        counts = {t: client.execute_sql(f"SELECT count(*) FROM {t}_runs")[0][0] for t in ("tinyfish", "browserbase")}
    print(counts)


if __name__ == "__main__":
    main()

"""TinyFish: a full load equals the API's view, field for field (read through the official SDK)."""

from __future__ import annotations

import math
from pathlib import Path

from agent_runs.loading.pipeline import load_runs
from agent_runs.simulators import TinyFishSimulator
from tests.sdk_views import tinyfish_runs
from tests.utils import assert_table_equals_api, read_runs, refresh_report, runs_requests


def test_full_load_equals_the_api_field_for_field(
    provider_env: dict[str, str], tinyfish: TinyFishSimulator, workdir: Path
) -> None:
    summary = load_runs(providers=["tinyfish"])

    api_runs = tinyfish_runs(tinyfish)
    rows = read_runs(workdir / "agent-runs.duckdb")
    assert summary.runs_by_provider == {"tinyfish": len(api_runs)} and len(api_runs) == len(tinyfish.current_runs())
    assert set(rows) == {("tinyfish", run.run_id) for run in api_runs}
    raw_by_id = {record["run_id"]: record for record in tinyfish.current_runs()}
    for run in api_runs:
        row = rows["tinyfish", run.run_id]
        assert row["provider_status"] == run.status.value
        assert row["status"] == run.status.value.lower()
        assert row["task"] == run.goal
        assert row["created_at"] == run.created_at
        assert row["started_at"] == run.started_at
        assert row["finished_at"] == run.finished_at
        assert row["updated_at"] is None
        assert row["num_steps"] == raw_by_id[run.run_id]["num_of_steps"]  # on the wire, not in the SDK model
        assert row["result"] == run.result
        assert row["result_schema"] == run.output_schema
        assert row["error_code"] == (run.error.code if run.error else None)
        assert row["error_message"] == (run.error.message if run.error else None)
        assert row["error_category"] == (run.error.category.value if run.error else None)
        assert row["streaming_url"] == run.streaming_url
        assert row["proxy_enabled"] == run.browser_config.proxy_enabled
        assert row["proxy_country_code"] == run.browser_config.proxy_country_code
        assert (row["agent_id"], row["session_id"], row["sandbox_id"]) == (None, None, None)
        if run.started_at and run.finished_at:
            assert row["duration_s"] == (run.finished_at - run.started_at).total_seconds()
        else:
            assert row["duration_s"] is None
        # Everything the columns do not hold is in `extra`: the error's help fields, new API fields,
        # `schema_validation` (in the list, not in the SDK's model): whether the result matched its schema.
        raw = raw_by_id[run.run_id]
        expected_extra = {key: raw[key] for key in ("schema_validation", "priority", "labels") if key in raw}
        if run.error:
            expected_extra["error"] = {
                "retry_after": run.error.retry_after,
                "help_url": run.error.help_url,
                "help_message": run.error.help_message,
            }
        assert row["extra"] == (expected_extra or None)
    assert any(row["extra"] and "priority" in row["extra"] for row in rows.values()), "no new field reached extra"


def test_open_runs_are_refreshed_in_batches_and_no_by_id_field_is_stored(
    provider_env: dict[str, str], tinyfish: TinyFishSimulator, workdir: Path
) -> None:
    """Runs that ended since they were loaded are read 100 a request (`POST /v1/runs/batch`); the
    steps (base64 screenshots) and presigned `video_url` a read by id adds are stored nowhere, so
    the rows equal the list's."""
    load_runs(providers=["tinyfish"])
    tinyfish.clock.advance(20 * 86400)
    tinyfish.requests.clear()
    summary = load_runs(providers=["tinyfish"])
    rows = assert_table_equals_api(workdir, "tinyfish", tinyfish)
    refreshed = refresh_report(summary, "tinyfish")["by_id"]
    batches = [request for request in runs_requests(tinyfish, "tinyfish") if request.path == "/v1/runs/batch"]
    assert refreshed >= 10 and len(batches) == math.ceil(refreshed / 100)
    assert all(request.path in ("/v1/runs", "/v1/runs/batch") for request in tinyfish.requests)
    assert not any(row["extra"] and {"steps", "video_url"} & set(row["extra"]) for row in rows.values())
    stored = [path for path in workdir.rglob("*") if path.is_file()]
    assert not [path for path in stored if b"X-Amz-Signature" in path.read_bytes() or b"base64," in path.read_bytes()]

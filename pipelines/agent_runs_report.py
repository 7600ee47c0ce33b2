"""`agent-runs report`: one self-contained HTML file with the charts people look at, read from the
analytics views (views.py). Charts are Vega-Lite specs made with Altair and rendered to inline
SVG by vl-convert, so the file opens anywhere with no network and no JavaScript.

    agent-runs report --out report.html
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import altair as alt
import vl_convert
from dlt.pipeline.pipeline import Pipeline

from agent_runs.settings import TABLE_NAME

WIDTH = 480
STATUS_COLOURS = {
    "completed": "#2e7d32",
    "failed": "#c62828",
    "cancelled": "#8d6e63",
    "timed_out": "#ef6c00",
    "running": "#1565c0",
    "pending": "#90caf9",
    "paused": "#7e57c2",
    "unknown": "#9e9e9e",
}
AGE_BUCKETS = ((1, "< 1 h"), (6, "1-6 h"), (24, "6-24 h"), (24 * 7, "1-7 d"), (24 * 30, "7-30 d"), (None, "> 30 d"))


@dataclass
class Chart:
    title: str
    caption: str
    spec: alt.TopLevelMixin


def query(pipeline: Pipeline, sql: str) -> list[dict[str, Any]]:
    with pipeline.sql_client() as client, client.execute_query(sql) as cursor:
        names = [column[0] for column in cursor.description]
        return [{name: plain(value) for name, value in zip(names, row, strict=True)} for row in cursor.fetchall()]


def plain(value: Any) -> Any:
    """Values as Vega-Lite reads them: dates as ISO strings, decimals as floats."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "__float__") and not isinstance(value, int | float | bool):
        return float(value)
    return value


def charts(pipeline: Pipeline, dataset: str) -> tuple[dict[str, Any], list[Chart]]:
    def view(name: str) -> str:
        return f"{dataset}.{name}"

    totals = query(
        pipeline,
        f"SELECT COUNT(*) AS runs, COUNT(DISTINCT provider) AS providers, MIN(created_at) AS first_run, "
        f"MAX(created_at) AS last_run FROM {dataset}.{TABLE_NAME}",
    )[0]
    totals["open_runs"] = query(pipeline, f"SELECT COUNT(*) AS n FROM {view('open_runs')}")[0]["n"]
    daily = query(pipeline, f"SELECT day, provider, status, runs FROM {view('runs_daily')}")
    outcomes = query(
        pipeline,
        f"SELECT day, provider, SUM(completed) AS completed, SUM(completed + failed + cancelled + timed_out) "
        f"AS terminal FROM {view('run_outcomes')} GROUP BY day, provider",
    )
    for row in outcomes:
        row["success_rate"] = row["completed"] / row["terminal"] if row["terminal"] else None
    durations = query(pipeline, f"SELECT provider, duration_s FROM {dataset}.{TABLE_NAME} WHERE duration_s IS NOT NULL")
    failures = query(
        pipeline,
        f"SELECT provider, COALESCE(error_code, error_category, 'no code') AS cause, SUM(runs) AS runs "
        f"FROM {view('run_failures')} GROUP BY 1, 2 ORDER BY runs DESC LIMIT 12",
    )
    open_runs = query(pipeline, f"SELECT provider, age_hours FROM {view('open_runs')}")
    for row in open_runs:
        row["age"] = next(label for limit, label in AGE_BUCKETS if limit is None or row["age_hours"] < limit)

    status_scale = alt.Scale(domain=list(STATUS_COLOURS), range=list(STATUS_COLOURS.values()))
    return totals, [
        Chart(
            "Runs per day",
            "by provider and status",
            alt.Chart(alt.Data(values=daily))
            .mark_bar()
            .encode(
                x=alt.X("yearmonthdate(day):O", title=None),
                y=alt.Y("sum(runs):Q", title="runs"),
                color=alt.Color("status:N", scale=status_scale),
                column=alt.Column("provider:N", title=None),
            )
            .properties(width=WIDTH // 2, height=220),
        ),
        Chart(
            "Success rate over time",
            "completed ÷ terminal runs, per day",
            alt.Chart(alt.Data(values=outcomes))
            .mark_line(point=True)
            .encode(
                x=alt.X("day:T", title=None),
                y=alt.Y("success_rate:Q", title="success rate", axis=alt.Axis(format="%"), scale=alt.Scale(zero=False)),
                color="provider:N",
            )
            .properties(width=WIDTH, height=220),
        ),
        Chart(
            "Duration distribution",
            "finished runs, seconds from start to end",
            alt.Chart(alt.Data(values=durations))
            .mark_bar(opacity=0.75)
            .encode(
                x=alt.X("duration_s:Q", bin=alt.Bin(maxbins=40), title="duration (s)"),
                y=alt.Y("count():Q", title="runs", stack=None),
                color="provider:N",
            )
            .properties(width=WIDTH, height=220),
        ),
        Chart(
            "Top failure causes",
            "failed and timed-out runs by error code",
            alt.Chart(alt.Data(values=failures))
            .mark_bar()
            .encode(
                x=alt.X("runs:Q", title="runs"),
                y=alt.Y("cause:N", sort="-x", title=None),
                color="provider:N",
            )
            .properties(width=WIDTH - 200, height=24 * max(1, len(failures))),
        ),
        Chart(
            "Open runs by age",
            "runs not yet in a terminal status",
            alt.Chart(alt.Data(values=open_runs or [{"provider": "none", "age": AGE_BUCKETS[0][1]}]))
            .mark_bar()
            .encode(
                x=alt.X("age:N", sort=[label for _, label in AGE_BUCKETS], title="age"),
                y=alt.Y("count():Q", title="open runs"),
                color="provider:N",
            )
            .properties(width=WIDTH, height=220),
        ),
    ]


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Agent runs — {dataset}</title>
<style>
body {{ font: 14px/1.4 system-ui, sans-serif; margin: 2rem auto; max-width: 1280px; color: #222; }}
header {{ display: flex; gap: 2rem; flex-wrap: wrap; border-bottom: 1px solid #ddd; padding-bottom: 1rem; }}
.total b {{ display: block; font-size: 1.6rem; }}
main {{ display: grid; grid-template-columns: repeat(auto-fit, minmax(620px, 1fr)); gap: 2rem; margin-top: 1.5rem; }}
figure {{ margin: 0; }} figcaption {{ color: #666; margin-bottom: .5rem; }}
</style></head><body>
<h1>Agent runs</h1>
<header>{totals}</header>
<main>{figures}</main>
</body></html>
"""


def write_report(pipeline: Pipeline, out: Path) -> Path:
    """Render the report of the pipeline's dataset to `out` (one HTML file, inline SVG)."""
    dataset = pipeline.dataset_name
    totals, figures = charts(pipeline, dataset)
    header = [
        ("runs", f"{totals['runs']:,}"),
        ("providers", str(totals["providers"])),
        ("open now", f"{totals['open_runs']:,}"),
        ("first run", str(totals["first_run"])[:16].replace("T", " ")),
        ("last run", str(totals["last_run"])[:16].replace("T", " ")),
    ]
    page = PAGE.format(
        dataset=html.escape(dataset),
        totals="".join(f'<div class="total"><b>{html.escape(value)}</b>{label}</div>' for label, value in header),
        figures="".join(
            f'<figure class="chart" data-title="{html.escape(chart.title)}"><h2>{html.escape(chart.title)}</h2>'
            f"<figcaption>{html.escape(chart.caption)}</figcaption>{vl_convert.vegalite_to_svg(chart.spec.to_json())}"
            "</figure>"
            for chart in figures
        ),
    )
    out.write_text(page, encoding="utf-8")
    return out.resolve()

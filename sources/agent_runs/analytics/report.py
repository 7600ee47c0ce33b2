"""`agent-runs report`: one self-contained HTML file with the charts people look at, read from the
analytics views (views.py). Charts are Vega-Lite specs made with Altair and rendered to inline
SVG by vl-convert, so the file opens anywhere with no network and no JavaScript.

    agent-runs report --out report.html
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import date, datetime
from itertools import pairwise
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
# Candidate bucket edges for the ages of open runs, in hours; a report uses those its data reaches.
AGE_EDGES_H = (1, 6, 24, 24 * 7, 24 * 30, 24 * 90, 24 * 365)
FEW_TICKS = 5  # axis ticks on the narrow charts (with short labels: 1.4k), so that labels never touch


def age_label(hours: float) -> str:
    return f"{hours:g} h" if hours < 24 else f"{hours / 24:g} d"


def age_buckets(ages_h: list[float]) -> list[tuple[float | None, str]]:
    """(upper edge in hours, label) for the ages at hand: the candidate edges up to the first one
    past the oldest, so the buckets span the data instead of leaving it all in the last one."""
    oldest = max(ages_h, default=0.0)
    edges = [edge for edge in AGE_EDGES_H if edge <= oldest] or [AGE_EDGES_H[0]]
    labels = [f"< {age_label(edges[0])}"] + [f"{age_label(low)}-{age_label(high)}" for low, high in pairwise(edges)]
    return [*zip(edges, labels, strict=True), (None, f"> {age_label(edges[-1])}")]


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
    """The report's totals and its charts of runs: per day, success rate, durations, failure
    causes, open runs by age."""
    totals = query(
        pipeline,
        f"SELECT COUNT(*) AS runs, COUNT(DISTINCT provider) AS providers, MIN(created_at) AS first_run, "
        f"MAX(created_at) AS last_run FROM {dataset}.{TABLE_NAME}",
    )[0]
    totals["open_runs"] = query(pipeline, f"SELECT COUNT(*) AS n FROM {dataset}.open_runs")[0]["n"]
    return totals, [
        runs_per_day(pipeline, dataset),
        success_rate(pipeline, dataset),
        duration_distribution(pipeline, dataset),
        failure_causes(pipeline, dataset),
        open_runs_by_age(pipeline, dataset, totals["last_run"]),
    ]


def runs_per_day(pipeline: Pipeline, dataset: str) -> Chart:
    daily = query(pipeline, f"SELECT day, provider, status, runs FROM {dataset}.runs_daily")
    status_scale = alt.Scale(domain=list(STATUS_COLOURS), range=list(STATUS_COLOURS.values()))
    return Chart(
        "Runs per day",
        "by provider and status; days in UTC",
        alt.Chart(alt.Data(values=daily))
        .mark_bar()
        .encode(
            x=alt.X("yearmonthdate(day):O", title="day (UTC)", axis=alt.Axis(format="%b %d", labelAngle=-45)),
            y=alt.Y("sum(runs):Q", title="runs", axis=alt.Axis(tickCount=FEW_TICKS)),
            color=alt.Color(
                "status:N", scale=status_scale, title="status", legend=alt.Legend(orient="bottom", columns=4)
            ),
            row=alt.Row("provider:N", title=None, header=alt.Header(labelAngle=0, labelAlign="left")),
        )
        .properties(width=WIDTH, height=140),
    )


def success_rate(pipeline: Pipeline, dataset: str) -> Chart:
    outcomes = query(
        pipeline,
        f"SELECT day, provider, SUM(completed) AS completed, SUM(completed + failed + cancelled + timed_out) "
        f"AS terminal FROM {dataset}.run_outcomes GROUP BY day, provider",
    )
    for row in outcomes:
        row["success_rate"] = row["completed"] / row["terminal"] if row["terminal"] else None
    return Chart(
        "Success rate over time",
        "completed ÷ terminal runs, one point per UTC day",
        alt.Chart(alt.Data(values=outcomes))
        .mark_line(point=True)
        .encode(
            x=alt.X("yearmonthdate(day):T", title="day (UTC)", axis=alt.Axis(format="%b %d", tickCount="day")),
            y=alt.Y(
                "success_rate:Q",
                title="success rate",
                axis=alt.Axis(format="%", tickCount=FEW_TICKS),
                scale=alt.Scale(domain=[0, 1]),
            ),
            color=alt.Color("provider:N", title="provider"),
        )
        .properties(width=WIDTH, height=220),
    )


def duration_distribution(pipeline: Pipeline, dataset: str) -> Chart:
    durations = query(
        pipeline, f"SELECT provider, status, duration_s FROM {dataset}.{TABLE_NAME} WHERE duration_s IS NOT NULL"
    )
    # A run that timed out ends at the platform's limit: mark where those runs end.
    timeouts = query(
        pipeline,
        f"SELECT provider, MEDIAN(duration_s) AS duration_s, COUNT(*) AS runs FROM {dataset}.{TABLE_NAME} "
        "WHERE status = 'timed_out' AND duration_s IS NOT NULL GROUP BY provider",
    )
    for line, row in enumerate(timeouts):
        row["label"] = f"{row['provider']}: {row['runs']:,} timed out at ≈ {row['duration_s']:,.0f} s"
        row["label_y"] = 8 + 14 * line  # pixels from the top: one line a provider, never on top of another
    chart = (
        alt.Chart(alt.Data(values=durations))
        .mark_bar()
        .encode(
            x=alt.X("duration_s:Q", bin=alt.Bin(maxbins=40), title="duration (s)", axis=alt.Axis(labelOverlap=True)),
            y=alt.Y("count():Q", title="finished runs", stack=True),
            color=alt.Color("provider:N", title="provider"),
        )
    )
    if timeouts:
        marks = alt.Chart(alt.Data(values=timeouts))
        chart = (
            chart
            + marks.mark_rule(strokeDash=[4, 3], color="#333").encode(x=alt.X("duration_s:Q", title="duration (s)"))
            + marks.mark_text(align="right", dx=-4, baseline="top", color="#333").encode(
                x=alt.X("duration_s:Q", title="duration (s)"), y=alt.Y("label_y:Q", scale=None), text="label:N"
            )
        )
    return Chart(
        "Duration distribution",
        "finished runs, seconds from start to end, stacked by provider; dashed: where timed-out runs end",
        chart.properties(width=WIDTH, height=220),
    )


def failure_causes(pipeline: Pipeline, dataset: str) -> Chart:
    failures = query(
        pipeline,
        f"SELECT provider, COALESCE(error_code, error_category, status || ', no error code') AS cause, "
        f"COUNT(*) AS runs FROM {dataset}.{TABLE_NAME} "
        "WHERE status IN ('failed', 'timed_out') OR error_code IS NOT NULL GROUP BY 1, 2 ORDER BY runs DESC LIMIT 12",
    )
    return Chart(
        "Top failure causes",
        "failed and timed-out runs by error code (or by status where the API gives none)",
        alt.Chart(alt.Data(values=failures))
        .mark_bar()
        .encode(
            x=alt.X("runs:Q", title="runs", axis=alt.Axis(tickCount=FEW_TICKS, format="~s")),
            y=alt.Y("cause:N", sort="-x", title="error code"),
            color=alt.Color("provider:N", title="provider"),
        )
        .properties(width=WIDTH - 160, height=24 * max(1, len(failures))),
    )


def open_runs_by_age(pipeline: Pipeline, dataset: str, last_run: Any) -> Chart:
    # Ages at the newest run loaded, not at the wall clock: the data may end long before today.
    as_of = datetime.fromisoformat(last_run) if last_run else None
    open_runs = query(pipeline, f"SELECT provider, created_at FROM {dataset}.open_runs")
    for row in open_runs:
        row["age_hours"] = (as_of - datetime.fromisoformat(row["created_at"])).total_seconds() / 3600 if as_of else 0
    buckets = age_buckets([row["age_hours"] for row in open_runs])
    for row in open_runs:
        row["age"] = next(label for limit, label in buckets if limit is None or row["age_hours"] < limit)
    as_of_text = f"{str(last_run)[:16].replace('T', ' ')} UTC" if as_of else "the last run"
    return Chart(
        "Open runs by age",
        f"runs not yet in a terminal status; age at the newest run loaded ({as_of_text})",
        alt.Chart(alt.Data(values=open_runs or [{"provider": "none", "age": buckets[0][1]}]))
        .mark_bar()
        .encode(
            x=alt.X("age:N", sort=[label for _, label in buckets], title="age", axis=alt.Axis(labelAngle=0)),
            y=alt.Y("count():Q", title="open runs", axis=alt.Axis(tickCount=FEW_TICKS)),
            color=alt.Color("provider:N", title="provider"),
        )
        .properties(width=WIDTH, height=220),
    )


def cost_charts(pipeline: Pipeline, dataset: str) -> list[Chart]:
    """What runs cost, and whether they reached their goal, by provider and model: from the cost
    views, drawing only what the platforms report (a provider without a figure is named, not drawn as 0)."""
    costs = query(
        pipeline,
        f"SELECT provider, SUM(runs_with_cost) AS priced, SUM(credits) AS credits FROM {dataset}.run_costs GROUP BY provider",
    )
    return [
        spend_over_time(pipeline, dataset, costs),
        goal_rates(pipeline, dataset, costs),
        cost_per_goal(pipeline, dataset),
    ]


def spend_over_time(pipeline: Pipeline, dataset: str, costs: list[dict[str, Any]]) -> Chart:
    spend = query(
        pipeline,
        f"SELECT day, provider, SUM(cost_usd) AS cost_usd FROM {dataset}.run_costs "
        "WHERE cost_usd IS NOT NULL GROUP BY day, provider",
    )
    unpriced = sorted(row["provider"] for row in costs if not row["priced"])
    credited = sorted(row["provider"] for row in costs if row["credits"])
    no_cost = f"; no cost in USD reported by {', '.join(unpriced)}" if unpriced else ""
    no_cost += f" ({', '.join(credited)} counts credits instead)" if credited else ""
    return Chart(
        "Spend over time",
        f"US dollars a UTC day, as the platforms report them{no_cost}",
        alt.Chart(alt.Data(values=spend))
        .mark_bar()
        .encode(
            x=alt.X("yearmonthdate(day):O", title="day (UTC)", axis=alt.Axis(format="%b %d", labelAngle=-45)),
            y=alt.Y("sum(cost_usd):Q", title="USD", axis=alt.Axis(tickCount=FEW_TICKS, format="$~s")),
            color=alt.Color("provider:N", title="provider"),
        )
        .properties(width=WIDTH, height=220),
    )


def goal_rates(pipeline: Pipeline, dataset: str, costs: list[dict[str, Any]]) -> Chart:
    goals = query(
        pipeline,
        f"SELECT provider, model, completion_rate, goal_rate FROM {dataset}.run_goals WHERE goal_rate IS NOT NULL",
    )
    rates = [
        {"model": f"{row['provider']}: {row['model']}", "rate": kind, "value": row[column]}
        for row in goals
        for kind, column in (("completed ÷ ended", "completion_rate"), ("goal reached ÷ judged", "goal_rate"))
    ]
    no_verdict = sorted({row["provider"] for row in costs} - {row["provider"] for row in goals})
    return Chart(
        "Goal rate and completion rate by model",
        "ended runs: the platform's verdict on the goal beside the share that completed"
        + (f"; no verdict reported by {', '.join(no_verdict)}" if no_verdict else ""),
        alt.Chart(alt.Data(values=rates))
        .mark_bar()
        .encode(
            x=alt.X(
                "value:Q", title="share", axis=alt.Axis(format="%", tickCount=FEW_TICKS), scale=alt.Scale(domain=[0, 1])
            ),
            y=alt.Y("rate:N", title="rate", axis=alt.Axis(labels=False, ticks=False)),
            color=alt.Color("rate:N", title=None, legend=alt.Legend(orient="bottom")),
            row=alt.Row("model:N", title=None, header=alt.Header(labelAngle=0, labelAlign="left")),
        )
        .properties(width=WIDTH - 200, height=40),
    )


def cost_per_goal(pipeline: Pipeline, dataset: str) -> Chart:
    per_goal = query(
        pipeline,
        f"SELECT provider, model, cost_per_goal_usd FROM {dataset}.cost_per_goal WHERE cost_per_goal_usd IS NOT NULL",
    )
    for row in per_goal:
        row["model"] = f"{row['provider']}: {row['model']}"
    return Chart(
        "Cost per run that reached its goal",
        "US dollars of runs with a cost and a verdict, divided by those that reached their goal",
        alt.Chart(alt.Data(values=per_goal))
        .mark_bar()
        .encode(
            x=alt.X(
                "cost_per_goal_usd:Q", title="USD per goal reached", axis=alt.Axis(tickCount=FEW_TICKS, format="$.3f")
            ),
            y=alt.Y("model:N", sort="-x", title="provider: model"),
            color=alt.Color("provider:N", title="provider"),
        )
        .properties(width=WIDTH - 200, height=28 * max(1, len(per_goal))),
    )


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
    from agent_runs.analytics.step_charts import step_charts  # it builds on this module's Chart and query

    totals, figures = charts(pipeline, dataset)
    figures += cost_charts(pipeline, dataset) + step_charts(pipeline, dataset)
    header = [
        ("runs", f"{totals['runs']:,}"),
        ("providers", str(totals["providers"])),
        ("open now", f"{totals['open_runs']:,}"),
        ("first run (UTC)", str(totals["first_run"])[:16].replace("T", " ")),
        ("last run (UTC)", str(totals["last_run"])[:16].replace("T", " ")),
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

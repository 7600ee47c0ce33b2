"""The report's charts of `run_steps`, read from the step views (views.STEP_VIEWS): how many steps
runs take, where failed runs stopped, which runs loop, where the tokens and dollars go. None when
the dataset has no steps (loaded with `--no-steps`, or before any run ended)."""

from __future__ import annotations

import altair as alt
from dlt.pipeline.pipeline import Pipeline

from agent_runs.analytics.report import FEW_TICKS, WIDTH, Chart, query
from agent_runs.loading.loaded import has_loaded
from agent_runs.settings import STEPS_TABLE_NAME

TOP_LAST_STEPS = 12  # actions shown in the chart of where failed runs stopped


def step_charts(pipeline: Pipeline, dataset: str) -> list[Chart]:
    if not has_loaded(pipeline, STEPS_TABLE_NAME):
        return []
    return [
        steps_per_run(pipeline, dataset),
        last_steps_before_failure(pipeline, dataset),
        looping_runs(pipeline, dataset),
        step_costs(pipeline, dataset),
    ]


def steps_per_run(pipeline: Pipeline, dataset: str) -> Chart:
    rows = query(
        pipeline,
        f"SELECT provider || ' ' || run_family AS list, SUM(runs) AS runs, MEDIAN(steps_per_run_p50) AS p50, "
        f"MAX(steps_per_run_p95) AS p95 FROM {dataset}.run_step_counts GROUP BY 1",
    )
    values = [{"list": row["list"], "percentile": name, "taken": row[name]} for row in rows for name in ("p50", "p95")]
    return Chart(
        "Steps per run",
        "steps an ended run took: the median and 95th percentile, by provider and run list",
        alt.Chart(alt.Data(values=values))
        .mark_bar()
        .encode(
            x=alt.X("taken:Q", title="steps taken", axis=alt.Axis(tickCount=FEW_TICKS)),
            y=alt.Y("list:N", title="provider and run list"),
            yOffset=alt.YOffset("percentile:N"),
            color=alt.Color("percentile:N", title="percentile"),
        )
        .properties(width=WIDTH - 160, height=max(120, 40 * len(rows))),
    )


def last_steps_before_failure(pipeline: Pipeline, dataset: str) -> Chart:
    rows = query(
        pipeline,
        f"SELECT provider, provider || ': ' || COALESCE(action, kind) AS action, SUM(failed_runs) AS failed_runs "
        f"FROM {dataset}.last_steps_before_failure GROUP BY 1, 2 ORDER BY 3 DESC LIMIT {TOP_LAST_STEPS}",
    )
    for row in rows:
        row["action"] = row["action"][:60]
    return Chart(
        "Where failed runs stopped",
        f"the last step of failed and timed-out runs: the {TOP_LAST_STEPS} most common actions",
        alt.Chart(alt.Data(values=rows))
        .mark_bar()
        .encode(
            x=alt.X("failed_runs:Q", title="failed runs", axis=alt.Axis(tickCount=FEW_TICKS)),
            y=alt.Y("action:N", sort="-x", title="provider: last action"),
            color=alt.Color("provider:N", title="provider"),
        )
        .properties(width=WIDTH - 200, height=max(120, 24 * len(rows))),
    )


def looping_runs(pipeline: Pipeline, dataset: str) -> Chart:
    rows = query(
        pipeline,
        f"SELECT provider, repeated, COUNT(DISTINCT run_id) AS runs FROM {dataset}.looping_runs GROUP BY 1, 2",
    )
    return Chart(
        "Runs that loop",
        "runs on one URL three times or more, or taking one action three times in a row",
        alt.Chart(alt.Data(values=rows))
        .mark_bar()
        .encode(
            x=alt.X("runs:Q", title="runs", axis=alt.Axis(tickCount=FEW_TICKS)),
            y=alt.Y("provider:N", title="provider"),
            color=alt.Color("repeated:N", title="repeated"),
        )
        .properties(width=WIDTH - 160, height=max(120, 40 * len({row["provider"] for row in rows}))),
    )


def step_costs(pipeline: Pipeline, dataset: str) -> Chart:
    rows = query(
        pipeline,
        f"SELECT provider || ' ' || kind AS step, SUM(input_tokens + output_tokens) AS tokens, SUM(cost_usd) AS cost_usd "
        f"FROM {dataset}.step_costs WHERE input_tokens IS NOT NULL OR cost_usd IS NOT NULL GROUP BY 1",
    )
    for row in rows:
        row["cost_usd"] = float(row["cost_usd"]) if row["cost_usd"] is not None else None
    return Chart(
        "Where the tokens go",
        "LLM tokens by provider and step kind, where the steps report them (the tooltip has the dollars)",
        alt.Chart(alt.Data(values=rows))
        .mark_bar()
        .encode(
            x=alt.X("tokens:Q", title="tokens", axis=alt.Axis(tickCount=FEW_TICKS, format="~s")),
            y=alt.Y("step:N", sort="-x", title="provider and step kind"),
            tooltip=["step:N", "tokens:Q", alt.Tooltip("cost_usd:Q", format="$.2f")],
        )
        .properties(width=WIDTH - 160, height=max(120, 30 * len(rows))),
    )

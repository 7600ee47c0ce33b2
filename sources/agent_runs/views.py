"""Analytics views over `runs`, created (or replaced) in the dataset after each load, so analysts and
BI dashboards share one definition instead of each writing the same SQL.

The cost views are honest about gaps: a provider that reports no cost or verdict has nulls there,
never zeros (`runs_with_cost`, `judged_runs` say how many runs the figures rest on).

Each view is written once, in PostgreSQL's dialect (standard SQL where it can be), and sqlglot
turns it into the destination's dialect. Days are UTC days whatever the session's time zone.
"""

from collections.abc import Callable

import sqlglot

from .schema import TERMINAL_STATUSES

TERMINAL = ", ".join(f"'{status}'" for status in sorted(TERMINAL_STATUSES))
DAY = "CAST(created_at AT TIME ZONE 'UTC' AS DATE)"
QUEUE_S = "EXTRACT(EPOCH FROM started_at - created_at)"


def _percentiles(expression: str, name: str) -> str:
    return ", ".join(
        f"PERCENTILE_CONT({fraction}) WITHIN GROUP (ORDER BY {expression}) AS {name}_p{label}"
        for fraction, label in ((0.5, 50), (0.9, 90), (0.99, 99))
    )


# name -> SELECT over {runs}, the qualified `runs` table.
VIEWS: dict[str, str] = {
    "runs_daily": f"""
        SELECT {DAY} AS day, provider, status, COUNT(*) AS runs,
               CAST(SUM(CASE WHEN status IN ({TERMINAL}) THEN 1 ELSE 0 END) AS BIGINT) AS terminal_runs,
               CAST(SUM(CASE WHEN status IN ({TERMINAL}) THEN 0 ELSE 1 END) AS BIGINT) AS open_runs
        FROM {{runs}} GROUP BY 1, 2, 3""",
    "run_outcomes": f"""
        SELECT {DAY} AS day, provider, agent_id,
               CAST(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS BIGINT) AS completed,
               CAST(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) AS BIGINT) AS failed,
               CAST(SUM(CASE WHEN status = 'cancelled' THEN 1 ELSE 0 END) AS BIGINT) AS cancelled,
               CAST(SUM(CASE WHEN status = 'timed_out' THEN 1 ELSE 0 END) AS BIGINT) AS timed_out,
               CAST(CAST(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS BIGINT) AS DOUBLE PRECISION)
                 / NULLIF(CAST(SUM(CASE WHEN status IN ({TERMINAL}) THEN 1 ELSE 0 END) AS BIGINT), 0) AS success_rate
        FROM {{runs}} GROUP BY 1, 2, 3""",
    "run_durations": f"""
        SELECT {DAY} AS day, provider, COUNT(duration_s) AS finished_runs,
               {_percentiles("duration_s", "duration_s")}, {_percentiles(QUEUE_S, "queue_s")}
        FROM {{runs}} GROUP BY 1, 2""",
    "run_failures": """
        SELECT provider, error_code, error_category, error_message, COUNT(*) AS runs,
               MAX(created_at) AS last_seen
        FROM {runs} WHERE status IN ('failed', 'timed_out') OR error_code IS NOT NULL
        GROUP BY 1, 2, 3, 4""",
    "run_costs": f"""
        SELECT {DAY} AS day, provider, model, COUNT(*) AS runs, COUNT(cost_usd) AS runs_with_cost,
               SUM(cost_usd) AS cost_usd, SUM(credits) AS credits
        FROM {{runs}} GROUP BY 1, 2, 3""",
    "run_goals": f"""
        SELECT provider, model,
               CAST(SUM(CASE WHEN status IN ({TERMINAL}) THEN 1 ELSE 0 END) AS BIGINT) AS terminal_runs,
               CAST(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS BIGINT) AS completed,
               CAST(CAST(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS BIGINT) AS DOUBLE PRECISION)
                 / NULLIF(CAST(SUM(CASE WHEN status IN ({TERMINAL}) THEN 1 ELSE 0 END) AS BIGINT), 0) AS completion_rate,
               COUNT(goal_achieved) AS judged_runs,
               CAST(SUM(CASE WHEN goal_achieved THEN 1 ELSE 0 END) AS BIGINT) AS goal_achieved,
               CAST(CAST(SUM(CASE WHEN goal_achieved THEN 1 ELSE 0 END) AS BIGINT) AS DOUBLE PRECISION)
                 / NULLIF(COUNT(goal_achieved), 0) AS goal_rate
        FROM {{runs}} WHERE status IN ({TERMINAL}) GROUP BY 1, 2""",
    "cost_per_goal": """
        SELECT provider, model, SUM(cost_usd) AS cost_usd,
               CAST(SUM(CASE WHEN goal_achieved THEN 1 ELSE 0 END) AS BIGINT) AS goals_achieved,
               SUM(cost_usd) / NULLIF(SUM(CASE WHEN goal_achieved THEN 1 ELSE 0 END), 0) AS cost_per_goal_usd
        FROM {runs} WHERE cost_usd IS NOT NULL AND goal_achieved IS NOT NULL GROUP BY 1, 2""",
    "open_runs": f"""
        SELECT provider, run_id, status, task, agent_id, created_at, started_at,
               EXTRACT(EPOCH FROM CURRENT_TIMESTAMP - created_at) / 3600 AS age_hours
        FROM {{runs}} WHERE status NOT IN ({TERMINAL}) AND missing_from_api_at IS NULL""",
}


DESCRIPTIONS: dict[str, str] = {
    "runs_daily": "Runs a UTC day by provider and status, with how many have ended and how many are open.",
    "run_outcomes": "Outcomes a UTC day by provider and agent: completed, failed, cancelled, timed out, and the "
    "share of ended runs that completed.",
    "run_durations": "Run time (duration_s) and time queued before starting (queue_s) a UTC day by provider: "
    "the median, 90th and 99th percentiles.",
    "run_failures": "Errors by provider, code, category and message: how many runs and when last seen.",
    "run_costs": "What runs cost a UTC day by provider and model, in dollars and credits; runs_with_cost says how "
    "many runs the sum rests on (a provider that reports no cost adds nulls, never zeros).",
    "run_goals": "Ended runs by provider and model: how many completed, and how many reached their goal by the "
    "platform's own verdict (judged_runs: how many runs had one).",
    "cost_per_goal": "Dollars spent per goal achieved, by provider and model, over runs with both a cost and a verdict.",
    "open_runs": "Runs not yet ended (and not gone from the API), with their age in hours.",
}


WRITTEN_IN = "postgres"  # the dialect VIEWS are written in


def in_dialect(sql: str, dialect: str, pretty: bool = False) -> str:
    """A statement written as VIEWS are, in `dialect` (sqlglot's name for it)."""
    return sqlglot.transpile(sql, read=WRITTEN_IN, write=dialect, pretty=pretty)[0]


def view_statements(runs_table: str, qualify: Callable[[str], str], dialect: str) -> list[str]:
    """`CREATE OR REPLACE VIEW` for every view, in the destination's SQL dialect."""
    return [
        in_dialect(f"CREATE OR REPLACE VIEW {qualify(name)} AS {select.format(runs=runs_table)}", dialect)
        for name, select in VIEWS.items()
    ]

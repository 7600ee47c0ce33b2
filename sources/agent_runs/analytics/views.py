"""Analytics views over `runs` and `run_steps`, created (or replaced) in the dataset after each load,
so analysts and BI dashboards share one definition instead of each writing the same SQL.

The cost views are honest about gaps: a provider that reports no cost or verdict has nulls there,
never zeros (`runs_with_cost`, `judged_runs` say how many runs the figures rest on).

Each view is written once, in PostgreSQL's dialect (standard SQL where it can be), and sqlglot
turns it into the destination's dialect. Days are UTC days whatever the session's time zone.
"""

import functools
from collections.abc import Callable

import sqlglot

from agent_runs.rows.schema import TERMINAL_STATUSES

TERMINAL = ", ".join(f"'{status}'" for status in sorted(TERMINAL_STATUSES))
DAY = "CAST(created_at AT TIME ZONE 'UTC' AS DATE)"
QUEUE_S = "EXTRACT(EPOCH FROM started_at - created_at)"


def _percentiles(expression: str, prefix: str, labels: tuple[int, ...] = (50, 90, 99)) -> str:
    return ", ".join(
        f"PERCENTILE_CONT({label / 100}) WITHIN GROUP (ORDER BY {expression}) AS {prefix}_p{label}" for label in labels
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


LOOP_REPEATS = 3  # a run that is on one URL this many times, or takes one action this many times in a row, loops
# name -> SELECT over {runs} and {steps}, the qualified `runs` and `run_steps` tables.
STEP_VIEWS: dict[str, str] = {
    "run_step_counts": f"""
        SELECT r.provider, r.run_family, r.agent_id, COUNT(*) AS runs,
               {_percentiles("s.step_count", "steps_per_run", (50, 90, 95))}
        FROM {{runs}} AS r
        JOIN (SELECT provider, run_id, COUNT(*) AS step_count FROM {{steps}} GROUP BY 1, 2) AS s
          ON s.provider = r.provider AND s.run_id = r.run_id
        WHERE r.status IN ({TERMINAL}) GROUP BY 1, 2, 3""",
    "last_steps_before_failure": """
        SELECT provider, kind, action, url, COUNT(*) AS failed_runs
        FROM (SELECT s.provider, s.kind, s.action, s.url,
                     ROW_NUMBER() OVER (PARTITION BY s.provider, s.run_id ORDER BY s.step_index DESC) AS from_last
              FROM {steps} AS s JOIN {runs} AS r ON r.provider = s.provider AND r.run_id = s.run_id
              WHERE r.status IN ('failed', 'timed_out')) AS last_steps
        WHERE from_last = 1 GROUP BY 1, 2, 3, 4""",
    "looping_runs": f"""
        SELECT provider, run_id, 'url' AS repeated, url AS value, COUNT(*) AS times
        FROM {{steps}} WHERE url IS NOT NULL GROUP BY 1, 2, 4 HAVING COUNT(*) >= {LOOP_REPEATS}
        UNION ALL
        SELECT provider, run_id, 'action' AS repeated, action AS value, MAX(streak) AS times
        FROM (SELECT provider, run_id, action, COUNT(*) AS streak
              FROM (SELECT provider, run_id, action,
                           step_index - ROW_NUMBER() OVER (PARTITION BY provider, run_id, action ORDER BY step_index) AS run_of
                    FROM {{steps}} WHERE action IS NOT NULL) AS numbered
              GROUP BY provider, run_id, action, run_of) AS streaks
        WHERE streak >= {LOOP_REPEATS} GROUP BY 1, 2, 4""",
    "step_costs": """
        SELECT provider, run_family, kind, COUNT(*) AS steps, COUNT(cost_usd) AS steps_with_cost,
               SUM(input_tokens) AS input_tokens, SUM(output_tokens) AS output_tokens, SUM(cost_usd) AS cost_usd
        FROM {steps} GROUP BY 1, 2, 3""",
}


ALL_VIEWS = {**VIEWS, **STEP_VIEWS}


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
    "run_step_counts": "Steps an ended run took, by provider, run list and agent or workflow: the median, 90th and "
    "95th percentiles (runs with steps loaded).",
    "last_steps_before_failure": "The last step of failed and timed-out runs: which action on which page, how many runs.",
    "looping_runs": f"Runs that loop: on one URL {LOOP_REPEATS} times or more, or one action {LOOP_REPEATS} times in a row.",
    "step_costs": "Where the tokens and dollars go: steps by provider, run list and kind, with their tokens and cost "
    "(steps_with_cost: how many the sum rests on).",
}


WRITTEN_IN = "postgres"  # the dialect VIEWS are written in


@functools.lru_cache(maxsize=256)  # a process that loads again (a scheduler) writes the same views each time
def in_dialect(sql: str, dialect: str, pretty: bool = False) -> str:
    """A statement written as VIEWS are, in `dialect` (sqlglot's name for it)."""
    return sqlglot.transpile(sql, read=WRITTEN_IN, write=dialect, pretty=pretty)[0]


def view_statements(
    runs_table: str, qualify: Callable[[str], str], dialect: str, steps_table: str | None = None
) -> list[str]:
    """`CREATE OR REPLACE VIEW` for every view, in the destination's SQL dialect (the step views
    only where there is a `run_steps` table)."""
    views = {**VIEWS, **(STEP_VIEWS if steps_table is not None else {})}
    return [
        in_dialect(
            f"CREATE OR REPLACE VIEW {qualify(name)} AS {select.format(runs=runs_table, steps=steps_table)}", dialect
        )
        for name, select in views.items()
    ]

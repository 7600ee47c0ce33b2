-- Written by `python -m agent_runs.analytics.dbt_package` from agent_runs/analytics/views.py (edit the view there): the SELECT in each dialect sqlglot writes, PostgreSQL's for any other adapter.
{% if target.type in ('duckdb', 'snowflake', 'databricks', 'athena', 'trino') %}
SELECT
  provider,
  model,
  CAST(SUM(
    CASE
      WHEN status IN ('cancelled', 'completed', 'failed', 'timed_out')
      THEN 1
      ELSE 0
    END
  ) AS BIGINT) AS terminal_runs,
  CAST(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS BIGINT) AS completed,
  CAST(CAST(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS BIGINT) AS DOUBLE) / NULLIF(
    CAST(SUM(
      CASE
        WHEN status IN ('cancelled', 'completed', 'failed', 'timed_out')
        THEN 1
        ELSE 0
      END
    ) AS BIGINT),
    0
  ) AS completion_rate,
  COUNT(goal_achieved) AS judged_runs,
  CAST(SUM(CASE WHEN goal_achieved THEN 1 ELSE 0 END) AS BIGINT) AS goal_achieved,
  CAST(CAST(SUM(CASE WHEN goal_achieved THEN 1 ELSE 0 END) AS BIGINT) AS DOUBLE) / NULLIF(COUNT(goal_achieved), 0) AS goal_rate
FROM {{ source('agent_runs', 'runs') }}
WHERE
  status IN ('cancelled', 'completed', 'failed', 'timed_out')
GROUP BY
  1,
  2
{% elif target.type in ('bigquery',) %}
SELECT
  provider,
  model,
  CAST(SUM(
    CASE
      WHEN status IN ('cancelled', 'completed', 'failed', 'timed_out')
      THEN 1
      ELSE 0
    END
  ) AS INT64) AS terminal_runs,
  CAST(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS INT64) AS completed,
  CAST(CAST(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS INT64) AS FLOAT64) / NULLIF(
    CAST(SUM(
      CASE
        WHEN status IN ('cancelled', 'completed', 'failed', 'timed_out')
        THEN 1
        ELSE 0
      END
    ) AS INT64),
    0
  ) AS completion_rate,
  COUNT(goal_achieved) AS judged_runs,
  CAST(SUM(CASE WHEN goal_achieved THEN 1 ELSE 0 END) AS INT64) AS goal_achieved,
  CAST(CAST(SUM(CASE WHEN goal_achieved THEN 1 ELSE 0 END) AS INT64) AS FLOAT64) / NULLIF(COUNT(goal_achieved), 0) AS goal_rate
FROM {{ source('agent_runs', 'runs') }}
WHERE
  status IN ('cancelled', 'completed', 'failed', 'timed_out')
GROUP BY
  1,
  2
{% elif target.type in ('sqlserver', 'synapse', 'fabric') %}
SELECT
  provider,
  model,
  CAST(SUM(
    CASE
      WHEN status IN ('cancelled', 'completed', 'failed', 'timed_out')
      THEN 1
      ELSE 0
    END
  ) AS BIGINT) AS terminal_runs,
  CAST(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS BIGINT) AS completed,
  CAST(CAST(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS BIGINT) AS FLOAT) / NULLIF(
    CAST(SUM(
      CASE
        WHEN status IN ('cancelled', 'completed', 'failed', 'timed_out')
        THEN 1
        ELSE 0
      END
    ) AS BIGINT),
    0
  ) AS completion_rate,
  COUNT_BIG(goal_achieved) AS judged_runs,
  CAST(SUM(CASE WHEN goal_achieved <> 0 THEN 1 ELSE 0 END) AS BIGINT) AS goal_achieved,
  CAST(CAST(SUM(CASE WHEN goal_achieved <> 0 THEN 1 ELSE 0 END) AS BIGINT) AS FLOAT) / NULLIF(COUNT_BIG(goal_achieved), 0) AS goal_rate
FROM {{ source('agent_runs', 'runs') }}
WHERE
  status IN ('cancelled', 'completed', 'failed', 'timed_out')
GROUP BY
  1,
  2
{% elif target.type in ('clickhouse',) %}
SELECT
  provider,
  model,
  CAST(SUM(
    CASE
      WHEN status IN ('cancelled', 'completed', 'failed', 'timed_out')
      THEN 1
      ELSE 0
    END
  ) AS Nullable(Int64)) AS terminal_runs,
  CAST(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS Nullable(Int64)) AS completed,
  CAST(CAST(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS Nullable(Int64)) AS Nullable(Float64)) / nullIf(
    CAST(SUM(
      CASE
        WHEN status IN ('cancelled', 'completed', 'failed', 'timed_out')
        THEN 1
        ELSE 0
      END
    ) AS Nullable(Int64)),
    0
  ) AS completion_rate,
  COUNT(goal_achieved) AS judged_runs,
  CAST(SUM(CASE WHEN goal_achieved THEN 1 ELSE 0 END) AS Nullable(Int64)) AS goal_achieved,
  CAST(CAST(SUM(CASE WHEN goal_achieved THEN 1 ELSE 0 END) AS Nullable(Int64)) AS Nullable(Float64)) / nullIf(COUNT(goal_achieved), 0) AS goal_rate
FROM {{ source('agent_runs', 'runs') }}
WHERE
  status IN ('cancelled', 'completed', 'failed', 'timed_out')
GROUP BY
  1,
  2
{% else %}
SELECT
  provider,
  model,
  CAST(SUM(
    CASE
      WHEN status IN ('cancelled', 'completed', 'failed', 'timed_out')
      THEN 1
      ELSE 0
    END
  ) AS BIGINT) AS terminal_runs,
  CAST(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS BIGINT) AS completed,
  CAST(CAST(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS BIGINT) AS DOUBLE PRECISION) / NULLIF(
    CAST(SUM(
      CASE
        WHEN status IN ('cancelled', 'completed', 'failed', 'timed_out')
        THEN 1
        ELSE 0
      END
    ) AS BIGINT),
    0
  ) AS completion_rate,
  COUNT(goal_achieved) AS judged_runs,
  CAST(SUM(CASE WHEN goal_achieved THEN 1 ELSE 0 END) AS BIGINT) AS goal_achieved,
  CAST(CAST(SUM(CASE WHEN goal_achieved THEN 1 ELSE 0 END) AS BIGINT) AS DOUBLE PRECISION) / NULLIF(COUNT(goal_achieved), 0) AS goal_rate
FROM {{ source('agent_runs', 'runs') }}
WHERE
  status IN ('cancelled', 'completed', 'failed', 'timed_out')
GROUP BY
  1,
  2
{% endif %}

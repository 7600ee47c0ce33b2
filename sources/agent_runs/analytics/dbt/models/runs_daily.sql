-- Written by `python -m agent_runs.analytics.dbt_package` from agent_runs/analytics/views.py (edit the view there): the SELECT in each dialect sqlglot writes, PostgreSQL's for any other adapter.
{% if target.type in ('snowflake',) %}
SELECT
  CAST(CONVERT_TIMEZONE('UTC', created_at) AS DATE) AS day,
  provider,
  status,
  COUNT(*) AS runs,
  CAST(SUM(
    CASE
      WHEN status IN ('cancelled', 'completed', 'failed', 'timed_out')
      THEN 1
      ELSE 0
    END
  ) AS BIGINT) AS terminal_runs,
  CAST(SUM(
    CASE
      WHEN status IN ('cancelled', 'completed', 'failed', 'timed_out')
      THEN 0
      ELSE 1
    END
  ) AS BIGINT) AS open_runs
FROM {{ source('agent_runs', 'runs') }}
GROUP BY
  1,
  2,
  3
{% elif target.type in ('bigquery',) %}
SELECT
  CAST(TIMESTAMP(DATETIME(created_at, 'UTC')) AS DATE) AS day,
  provider,
  status,
  COUNT(*) AS runs,
  CAST(SUM(
    CASE
      WHEN status IN ('cancelled', 'completed', 'failed', 'timed_out')
      THEN 1
      ELSE 0
    END
  ) AS INT64) AS terminal_runs,
  CAST(SUM(
    CASE
      WHEN status IN ('cancelled', 'completed', 'failed', 'timed_out')
      THEN 0
      ELSE 1
    END
  ) AS INT64) AS open_runs
FROM {{ source('agent_runs', 'runs') }}
GROUP BY
  1,
  2,
  3
{% elif target.type in ('databricks',) %}
SELECT
  CAST(FROM_UTC_TIMESTAMP(created_at, 'UTC') AS DATE) AS day,
  provider,
  status,
  COUNT(*) AS runs,
  CAST(SUM(
    CASE
      WHEN status IN ('cancelled', 'completed', 'failed', 'timed_out')
      THEN 1
      ELSE 0
    END
  ) AS BIGINT) AS terminal_runs,
  CAST(SUM(
    CASE
      WHEN status IN ('cancelled', 'completed', 'failed', 'timed_out')
      THEN 0
      ELSE 1
    END
  ) AS BIGINT) AS open_runs
FROM {{ source('agent_runs', 'runs') }}
GROUP BY
  1,
  2,
  3
{% elif target.type in ('sqlserver', 'synapse', 'fabric') %}
SELECT
  CAST(created_at AT TIME ZONE 'UTC' AS DATE) AS day,
  provider,
  status,
  COUNT_BIG(*) AS runs,
  CAST(SUM(
    CASE
      WHEN status IN ('cancelled', 'completed', 'failed', 'timed_out')
      THEN 1
      ELSE 0
    END
  ) AS BIGINT) AS terminal_runs,
  CAST(SUM(
    CASE
      WHEN status IN ('cancelled', 'completed', 'failed', 'timed_out')
      THEN 0
      ELSE 1
    END
  ) AS BIGINT) AS open_runs
FROM {{ source('agent_runs', 'runs') }}
GROUP BY
  1,
  2,
  3
{% elif target.type in ('clickhouse',) %}
SELECT
  CAST(created_at AT TIME ZONE 'UTC' AS Nullable(DATE)) AS day,
  provider,
  status,
  COUNT(*) AS runs,
  CAST(SUM(
    CASE
      WHEN status IN ('cancelled', 'completed', 'failed', 'timed_out')
      THEN 1
      ELSE 0
    END
  ) AS Nullable(Int64)) AS terminal_runs,
  CAST(SUM(
    CASE
      WHEN status IN ('cancelled', 'completed', 'failed', 'timed_out')
      THEN 0
      ELSE 1
    END
  ) AS Nullable(Int64)) AS open_runs
FROM {{ source('agent_runs', 'runs') }}
GROUP BY
  1,
  2,
  3
{% elif target.type in ('athena', 'trino') %}
SELECT
  CAST(AT_TIMEZONE(created_at, 'UTC') AS DATE) AS day,
  provider,
  status,
  COUNT(*) AS runs,
  CAST(SUM(
    CASE
      WHEN status IN ('cancelled', 'completed', 'failed', 'timed_out')
      THEN 1
      ELSE 0
    END
  ) AS BIGINT) AS terminal_runs,
  CAST(SUM(
    CASE
      WHEN status IN ('cancelled', 'completed', 'failed', 'timed_out')
      THEN 0
      ELSE 1
    END
  ) AS BIGINT) AS open_runs
FROM {{ source('agent_runs', 'runs') }}
GROUP BY
  1,
  2,
  3
{% else %}
SELECT
  CAST(created_at AT TIME ZONE 'UTC' AS DATE) AS day,
  provider,
  status,
  COUNT(*) AS runs,
  CAST(SUM(
    CASE
      WHEN status IN ('cancelled', 'completed', 'failed', 'timed_out')
      THEN 1
      ELSE 0
    END
  ) AS BIGINT) AS terminal_runs,
  CAST(SUM(
    CASE
      WHEN status IN ('cancelled', 'completed', 'failed', 'timed_out')
      THEN 0
      ELSE 1
    END
  ) AS BIGINT) AS open_runs
FROM {{ source('agent_runs', 'runs') }}
GROUP BY
  1,
  2,
  3
{% endif %}

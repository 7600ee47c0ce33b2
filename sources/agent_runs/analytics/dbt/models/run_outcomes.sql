-- Written by `python -m agent_runs.analytics.dbt_package` from agent_runs/analytics/views.py (edit the view there): the SELECT in each dialect sqlglot writes, PostgreSQL's for any other adapter.
{% if target.type in ('duckdb',) %}
SELECT
  CAST(created_at AT TIME ZONE 'UTC' AS DATE) AS day,
  provider,
  agent_id,
  CAST(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS BIGINT) AS completed,
  CAST(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) AS BIGINT) AS failed,
  CAST(SUM(CASE WHEN status = 'cancelled' THEN 1 ELSE 0 END) AS BIGINT) AS cancelled,
  CAST(SUM(CASE WHEN status = 'timed_out' THEN 1 ELSE 0 END) AS BIGINT) AS timed_out,
  CAST(CAST(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS BIGINT) AS DOUBLE) / NULLIF(
    CAST(SUM(
      CASE
        WHEN status IN ('cancelled', 'completed', 'failed', 'timed_out')
        THEN 1
        ELSE 0
      END
    ) AS BIGINT),
    0
  ) AS success_rate
FROM {{ source('agent_runs', 'runs') }}
GROUP BY
  1,
  2,
  3
{% elif target.type in ('snowflake',) %}
SELECT
  CAST(CONVERT_TIMEZONE('UTC', created_at) AS DATE) AS day,
  provider,
  agent_id,
  CAST(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS BIGINT) AS completed,
  CAST(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) AS BIGINT) AS failed,
  CAST(SUM(CASE WHEN status = 'cancelled' THEN 1 ELSE 0 END) AS BIGINT) AS cancelled,
  CAST(SUM(CASE WHEN status = 'timed_out' THEN 1 ELSE 0 END) AS BIGINT) AS timed_out,
  CAST(CAST(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS BIGINT) AS DOUBLE) / NULLIF(
    CAST(SUM(
      CASE
        WHEN status IN ('cancelled', 'completed', 'failed', 'timed_out')
        THEN 1
        ELSE 0
      END
    ) AS BIGINT),
    0
  ) AS success_rate
FROM {{ source('agent_runs', 'runs') }}
GROUP BY
  1,
  2,
  3
{% elif target.type in ('bigquery',) %}
SELECT
  CAST(TIMESTAMP(DATETIME(created_at, 'UTC')) AS DATE) AS day,
  provider,
  agent_id,
  CAST(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS INT64) AS completed,
  CAST(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) AS INT64) AS failed,
  CAST(SUM(CASE WHEN status = 'cancelled' THEN 1 ELSE 0 END) AS INT64) AS cancelled,
  CAST(SUM(CASE WHEN status = 'timed_out' THEN 1 ELSE 0 END) AS INT64) AS timed_out,
  CAST(CAST(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS INT64) AS FLOAT64) / NULLIF(
    CAST(SUM(
      CASE
        WHEN status IN ('cancelled', 'completed', 'failed', 'timed_out')
        THEN 1
        ELSE 0
      END
    ) AS INT64),
    0
  ) AS success_rate
FROM {{ source('agent_runs', 'runs') }}
GROUP BY
  1,
  2,
  3
{% elif target.type in ('databricks',) %}
SELECT
  CAST(FROM_UTC_TIMESTAMP(created_at, 'UTC') AS DATE) AS day,
  provider,
  agent_id,
  CAST(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS BIGINT) AS completed,
  CAST(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) AS BIGINT) AS failed,
  CAST(SUM(CASE WHEN status = 'cancelled' THEN 1 ELSE 0 END) AS BIGINT) AS cancelled,
  CAST(SUM(CASE WHEN status = 'timed_out' THEN 1 ELSE 0 END) AS BIGINT) AS timed_out,
  CAST(CAST(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS BIGINT) AS DOUBLE) / NULLIF(
    CAST(SUM(
      CASE
        WHEN status IN ('cancelled', 'completed', 'failed', 'timed_out')
        THEN 1
        ELSE 0
      END
    ) AS BIGINT),
    0
  ) AS success_rate
FROM {{ source('agent_runs', 'runs') }}
GROUP BY
  1,
  2,
  3
{% elif target.type in ('sqlserver', 'synapse', 'fabric') %}
SELECT
  CAST(created_at AT TIME ZONE 'UTC' AS DATE) AS day,
  provider,
  agent_id,
  CAST(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS BIGINT) AS completed,
  CAST(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) AS BIGINT) AS failed,
  CAST(SUM(CASE WHEN status = 'cancelled' THEN 1 ELSE 0 END) AS BIGINT) AS cancelled,
  CAST(SUM(CASE WHEN status = 'timed_out' THEN 1 ELSE 0 END) AS BIGINT) AS timed_out,
  CAST(CAST(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS BIGINT) AS FLOAT) / NULLIF(
    CAST(SUM(
      CASE
        WHEN status IN ('cancelled', 'completed', 'failed', 'timed_out')
        THEN 1
        ELSE 0
      END
    ) AS BIGINT),
    0
  ) AS success_rate
FROM {{ source('agent_runs', 'runs') }}
GROUP BY
  1,
  2,
  3
{% elif target.type in ('clickhouse',) %}
SELECT
  CAST(created_at AT TIME ZONE 'UTC' AS Nullable(DATE)) AS day,
  provider,
  agent_id,
  CAST(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS Nullable(Int64)) AS completed,
  CAST(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) AS Nullable(Int64)) AS failed,
  CAST(SUM(CASE WHEN status = 'cancelled' THEN 1 ELSE 0 END) AS Nullable(Int64)) AS cancelled,
  CAST(SUM(CASE WHEN status = 'timed_out' THEN 1 ELSE 0 END) AS Nullable(Int64)) AS timed_out,
  CAST(CAST(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS Nullable(Int64)) AS Nullable(Float64)) / nullIf(
    CAST(SUM(
      CASE
        WHEN status IN ('cancelled', 'completed', 'failed', 'timed_out')
        THEN 1
        ELSE 0
      END
    ) AS Nullable(Int64)),
    0
  ) AS success_rate
FROM {{ source('agent_runs', 'runs') }}
GROUP BY
  1,
  2,
  3
{% elif target.type in ('athena', 'trino') %}
SELECT
  CAST(AT_TIMEZONE(created_at, 'UTC') AS DATE) AS day,
  provider,
  agent_id,
  CAST(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS BIGINT) AS completed,
  CAST(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) AS BIGINT) AS failed,
  CAST(SUM(CASE WHEN status = 'cancelled' THEN 1 ELSE 0 END) AS BIGINT) AS cancelled,
  CAST(SUM(CASE WHEN status = 'timed_out' THEN 1 ELSE 0 END) AS BIGINT) AS timed_out,
  CAST(CAST(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS BIGINT) AS DOUBLE) / NULLIF(
    CAST(SUM(
      CASE
        WHEN status IN ('cancelled', 'completed', 'failed', 'timed_out')
        THEN 1
        ELSE 0
      END
    ) AS BIGINT),
    0
  ) AS success_rate
FROM {{ source('agent_runs', 'runs') }}
GROUP BY
  1,
  2,
  3
{% else %}
SELECT
  CAST(created_at AT TIME ZONE 'UTC' AS DATE) AS day,
  provider,
  agent_id,
  CAST(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS BIGINT) AS completed,
  CAST(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END) AS BIGINT) AS failed,
  CAST(SUM(CASE WHEN status = 'cancelled' THEN 1 ELSE 0 END) AS BIGINT) AS cancelled,
  CAST(SUM(CASE WHEN status = 'timed_out' THEN 1 ELSE 0 END) AS BIGINT) AS timed_out,
  CAST(CAST(SUM(CASE WHEN status = 'completed' THEN 1 ELSE 0 END) AS BIGINT) AS DOUBLE PRECISION) / NULLIF(
    CAST(SUM(
      CASE
        WHEN status IN ('cancelled', 'completed', 'failed', 'timed_out')
        THEN 1
        ELSE 0
      END
    ) AS BIGINT),
    0
  ) AS success_rate
FROM {{ source('agent_runs', 'runs') }}
GROUP BY
  1,
  2,
  3
{% endif %}

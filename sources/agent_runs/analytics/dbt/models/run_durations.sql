-- Written by `python -m agent_runs.analytics.dbt_package` from agent_runs/analytics/views.py (edit the view there): the SELECT in each dialect sqlglot writes, PostgreSQL's for any other adapter.
{% if target.type in ('duckdb',) %}
SELECT
  CAST(created_at AT TIME ZONE 'UTC' AS DATE) AS day,
  provider,
  COUNT(duration_s) AS finished_runs,
  QUANTILE_CONT(duration_s, 0.5
  ORDER BY
    duration_s) AS duration_s_p50,
  QUANTILE_CONT(duration_s, 0.9
  ORDER BY
    duration_s) AS duration_s_p90,
  QUANTILE_CONT(duration_s, 0.99
  ORDER BY
    duration_s) AS duration_s_p99,
  QUANTILE_CONT(EXTRACT(EPOCH FROM started_at - created_at), 0.5
  ORDER BY
    EXTRACT(EPOCH FROM started_at - created_at)) AS queue_s_p50,
  QUANTILE_CONT(EXTRACT(EPOCH FROM started_at - created_at), 0.9
  ORDER BY
    EXTRACT(EPOCH FROM started_at - created_at)) AS queue_s_p90,
  QUANTILE_CONT(EXTRACT(EPOCH FROM started_at - created_at), 0.99
  ORDER BY
    EXTRACT(EPOCH FROM started_at - created_at)) AS queue_s_p99
FROM {{ source('agent_runs', 'runs') }}
GROUP BY
  1,
  2
{% elif target.type in ('snowflake',) %}
SELECT
  CAST(CONVERT_TIMEZONE('UTC', created_at) AS DATE) AS day,
  provider,
  COUNT(duration_s) AS finished_runs,
  PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY
    duration_s) AS duration_s_p50,
  PERCENTILE_CONT(0.9) WITHIN GROUP (ORDER BY
    duration_s) AS duration_s_p90,
  PERCENTILE_CONT(0.99) WITHIN GROUP (ORDER BY
    duration_s) AS duration_s_p99,
  PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY
    DATE_PART(EPOCH, started_at - created_at)) AS queue_s_p50,
  PERCENTILE_CONT(0.9) WITHIN GROUP (ORDER BY
    DATE_PART(EPOCH, started_at - created_at)) AS queue_s_p90,
  PERCENTILE_CONT(0.99) WITHIN GROUP (ORDER BY
    DATE_PART(EPOCH, started_at - created_at)) AS queue_s_p99
FROM {{ source('agent_runs', 'runs') }}
GROUP BY
  1,
  2
{% elif target.type in ('bigquery',) %}
SELECT
  CAST(TIMESTAMP(DATETIME(created_at, 'UTC')) AS DATE) AS day,
  provider,
  COUNT(duration_s) AS finished_runs,
  PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY
    duration_s NULLS LAST) AS duration_s_p50,
  PERCENTILE_CONT(0.9) WITHIN GROUP (ORDER BY
    duration_s NULLS LAST) AS duration_s_p90,
  PERCENTILE_CONT(0.99) WITHIN GROUP (ORDER BY
    duration_s NULLS LAST) AS duration_s_p99,
  PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY
    EXTRACT(EPOCH FROM started_at - created_at) NULLS LAST) AS queue_s_p50,
  PERCENTILE_CONT(0.9) WITHIN GROUP (ORDER BY
    EXTRACT(EPOCH FROM started_at - created_at) NULLS LAST) AS queue_s_p90,
  PERCENTILE_CONT(0.99) WITHIN GROUP (ORDER BY
    EXTRACT(EPOCH FROM started_at - created_at) NULLS LAST) AS queue_s_p99
FROM {{ source('agent_runs', 'runs') }}
GROUP BY
  1,
  2
{% elif target.type in ('databricks',) %}
SELECT
  CAST(FROM_UTC_TIMESTAMP(created_at, 'UTC') AS DATE) AS day,
  provider,
  COUNT(duration_s) AS finished_runs,
  PERCENTILE_APPROX(duration_s, 0.5) AS duration_s_p50,
  PERCENTILE_APPROX(duration_s, 0.9) AS duration_s_p90,
  PERCENTILE_APPROX(duration_s, 0.99) AS duration_s_p99,
  PERCENTILE_APPROX(EXTRACT(EPOCH FROM started_at - created_at), 0.5) AS queue_s_p50,
  PERCENTILE_APPROX(EXTRACT(EPOCH FROM started_at - created_at), 0.9) AS queue_s_p90,
  PERCENTILE_APPROX(EXTRACT(EPOCH FROM started_at - created_at), 0.99) AS queue_s_p99
FROM {{ source('agent_runs', 'runs') }}
GROUP BY
  1,
  2
{% elif target.type in ('sqlserver', 'synapse', 'fabric') %}
SELECT
  CAST(created_at AT TIME ZONE 'UTC' AS DATE) AS day,
  provider,
  COUNT_BIG(duration_s) AS finished_runs,
  PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY
    CASE WHEN duration_s IS NULL THEN 1 ELSE 0 END, duration_s) AS duration_s_p50,
  PERCENTILE_CONT(0.9) WITHIN GROUP (ORDER BY
    CASE WHEN duration_s IS NULL THEN 1 ELSE 0 END, duration_s) AS duration_s_p90,
  PERCENTILE_CONT(0.99) WITHIN GROUP (ORDER BY
    CASE WHEN duration_s IS NULL THEN 1 ELSE 0 END, duration_s) AS duration_s_p99,
  PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY
    CASE WHEN DATEPART(EPOCH, started_at - created_at) IS NULL THEN 1 ELSE 0 END, DATEPART(EPOCH, started_at - created_at)) AS queue_s_p50,
  PERCENTILE_CONT(0.9) WITHIN GROUP (ORDER BY
    CASE WHEN DATEPART(EPOCH, started_at - created_at) IS NULL THEN 1 ELSE 0 END, DATEPART(EPOCH, started_at - created_at)) AS queue_s_p90,
  PERCENTILE_CONT(0.99) WITHIN GROUP (ORDER BY
    CASE WHEN DATEPART(EPOCH, started_at - created_at) IS NULL THEN 1 ELSE 0 END, DATEPART(EPOCH, started_at - created_at)) AS queue_s_p99
FROM {{ source('agent_runs', 'runs') }}
GROUP BY
  1,
  2
{% elif target.type in ('clickhouse',) %}
SELECT
  CAST(created_at AT TIME ZONE 'UTC' AS Nullable(DATE)) AS day,
  provider,
  COUNT(duration_s) AS finished_runs,
  PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY
    duration_s) AS duration_s_p50,
  PERCENTILE_CONT(0.9) WITHIN GROUP (ORDER BY
    duration_s) AS duration_s_p90,
  PERCENTILE_CONT(0.99) WITHIN GROUP (ORDER BY
    duration_s) AS duration_s_p99,
  PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY
    EXTRACT(EPOCH FROM started_at - created_at)) AS queue_s_p50,
  PERCENTILE_CONT(0.9) WITHIN GROUP (ORDER BY
    EXTRACT(EPOCH FROM started_at - created_at)) AS queue_s_p90,
  PERCENTILE_CONT(0.99) WITHIN GROUP (ORDER BY
    EXTRACT(EPOCH FROM started_at - created_at)) AS queue_s_p99
FROM {{ source('agent_runs', 'runs') }}
GROUP BY
  1,
  2
{% elif target.type in ('athena', 'trino') %}
SELECT
  CAST(AT_TIMEZONE(created_at, 'UTC') AS DATE) AS day,
  provider,
  COUNT(duration_s) AS finished_runs,
  APPROX_PERCENTILE(duration_s, 0.5) AS duration_s_p50,
  APPROX_PERCENTILE(duration_s, 0.9) AS duration_s_p90,
  APPROX_PERCENTILE(duration_s, 0.99) AS duration_s_p99,
  APPROX_PERCENTILE(TO_UNIXTIME(CAST(started_at - created_at AS TIMESTAMP)), 0.5) AS queue_s_p50,
  APPROX_PERCENTILE(TO_UNIXTIME(CAST(started_at - created_at AS TIMESTAMP)), 0.9) AS queue_s_p90,
  APPROX_PERCENTILE(TO_UNIXTIME(CAST(started_at - created_at AS TIMESTAMP)), 0.99) AS queue_s_p99
FROM {{ source('agent_runs', 'runs') }}
GROUP BY
  1,
  2
{% else %}
SELECT
  CAST(created_at AT TIME ZONE 'UTC' AS DATE) AS day,
  provider,
  COUNT(duration_s) AS finished_runs,
  PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY
    duration_s) AS duration_s_p50,
  PERCENTILE_CONT(0.9) WITHIN GROUP (ORDER BY
    duration_s) AS duration_s_p90,
  PERCENTILE_CONT(0.99) WITHIN GROUP (ORDER BY
    duration_s) AS duration_s_p99,
  PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY
    EXTRACT(EPOCH FROM started_at - created_at)) AS queue_s_p50,
  PERCENTILE_CONT(0.9) WITHIN GROUP (ORDER BY
    EXTRACT(EPOCH FROM started_at - created_at)) AS queue_s_p90,
  PERCENTILE_CONT(0.99) WITHIN GROUP (ORDER BY
    EXTRACT(EPOCH FROM started_at - created_at)) AS queue_s_p99
FROM {{ source('agent_runs', 'runs') }}
GROUP BY
  1,
  2
{% endif %}

-- Written by `python -m agent_runs.analytics.dbt_package` from agent_runs/analytics/views.py (edit the view there): the SELECT in each dialect sqlglot writes, PostgreSQL's for any other adapter.
{% if target.type in ('snowflake',) %}
SELECT
  CAST(CONVERT_TIMEZONE('UTC', created_at) AS DATE) AS day,
  provider,
  model,
  COUNT(*) AS runs,
  COUNT(cost_usd) AS runs_with_cost,
  SUM(cost_usd) AS cost_usd,
  SUM(credits) AS credits
FROM {{ source('agent_runs', 'runs') }}
GROUP BY
  1,
  2,
  3
{% elif target.type in ('bigquery',) %}
SELECT
  CAST(TIMESTAMP(DATETIME(created_at, 'UTC')) AS DATE) AS day,
  provider,
  model,
  COUNT(*) AS runs,
  COUNT(cost_usd) AS runs_with_cost,
  SUM(cost_usd) AS cost_usd,
  SUM(credits) AS credits
FROM {{ source('agent_runs', 'runs') }}
GROUP BY
  1,
  2,
  3
{% elif target.type in ('databricks',) %}
SELECT
  CAST(FROM_UTC_TIMESTAMP(created_at, 'UTC') AS DATE) AS day,
  provider,
  model,
  COUNT(*) AS runs,
  COUNT(cost_usd) AS runs_with_cost,
  SUM(cost_usd) AS cost_usd,
  SUM(credits) AS credits
FROM {{ source('agent_runs', 'runs') }}
GROUP BY
  1,
  2,
  3
{% elif target.type in ('sqlserver', 'synapse', 'fabric') %}
SELECT
  CAST(created_at AT TIME ZONE 'UTC' AS DATE) AS day,
  provider,
  model,
  COUNT_BIG(*) AS runs,
  COUNT_BIG(cost_usd) AS runs_with_cost,
  SUM(cost_usd) AS cost_usd,
  SUM(credits) AS credits
FROM {{ source('agent_runs', 'runs') }}
GROUP BY
  1,
  2,
  3
{% elif target.type in ('clickhouse',) %}
SELECT
  CAST(created_at AT TIME ZONE 'UTC' AS Nullable(DATE)) AS day,
  provider,
  model,
  COUNT(*) AS runs,
  COUNT(cost_usd) AS runs_with_cost,
  SUM(cost_usd) AS cost_usd,
  SUM(credits) AS credits
FROM {{ source('agent_runs', 'runs') }}
GROUP BY
  1,
  2,
  3
{% elif target.type in ('athena', 'trino') %}
SELECT
  CAST(AT_TIMEZONE(created_at, 'UTC') AS DATE) AS day,
  provider,
  model,
  COUNT(*) AS runs,
  COUNT(cost_usd) AS runs_with_cost,
  SUM(cost_usd) AS cost_usd,
  SUM(credits) AS credits
FROM {{ source('agent_runs', 'runs') }}
GROUP BY
  1,
  2,
  3
{% else %}
SELECT
  CAST(created_at AT TIME ZONE 'UTC' AS DATE) AS day,
  provider,
  model,
  COUNT(*) AS runs,
  COUNT(cost_usd) AS runs_with_cost,
  SUM(cost_usd) AS cost_usd,
  SUM(credits) AS credits
FROM {{ source('agent_runs', 'runs') }}
GROUP BY
  1,
  2,
  3
{% endif %}

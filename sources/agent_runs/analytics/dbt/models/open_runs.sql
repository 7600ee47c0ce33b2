-- Written by `python -m agent_runs.analytics.dbt_package` from agent_runs/analytics/views.py (edit the view there): the SELECT in each dialect sqlglot writes, PostgreSQL's for any other adapter.
{% if target.type in ('redshift',) %}
SELECT
  provider,
  run_id,
  status,
  task,
  agent_id,
  created_at,
  started_at,
  EXTRACT(EPOCH FROM GETDATE() - created_at) / 3600 AS age_hours
FROM {{ source('agent_runs', 'runs') }}
WHERE
  NOT status IN ('cancelled', 'completed', 'failed', 'timed_out')
  AND missing_from_api_at IS NULL
{% elif target.type in ('snowflake',) %}
SELECT
  provider,
  run_id,
  status,
  task,
  agent_id,
  created_at,
  started_at,
  DATE_PART(EPOCH, CURRENT_TIMESTAMP() - created_at) / 3600 AS age_hours
FROM {{ source('agent_runs', 'runs') }}
WHERE
  NOT status IN ('cancelled', 'completed', 'failed', 'timed_out')
  AND missing_from_api_at IS NULL
{% elif target.type in ('bigquery', 'databricks') %}
SELECT
  provider,
  run_id,
  status,
  task,
  agent_id,
  created_at,
  started_at,
  EXTRACT(EPOCH FROM CURRENT_TIMESTAMP() - created_at) / 3600 AS age_hours
FROM {{ source('agent_runs', 'runs') }}
WHERE
  NOT status IN ('cancelled', 'completed', 'failed', 'timed_out')
  AND missing_from_api_at IS NULL
{% elif target.type in ('sqlserver', 'synapse', 'fabric') %}
SELECT
  provider,
  run_id,
  status,
  task,
  agent_id,
  created_at,
  started_at,
  DATEPART(EPOCH, GETDATE() - created_at) / 3600 AS age_hours
FROM {{ source('agent_runs', 'runs') }}
WHERE
  NOT status IN ('cancelled', 'completed', 'failed', 'timed_out')
  AND missing_from_api_at IS NULL
{% elif target.type in ('clickhouse',) %}
SELECT
  provider,
  run_id,
  status,
  task,
  agent_id,
  created_at,
  started_at,
  EXTRACT(EPOCH FROM CURRENT_TIMESTAMP() - created_at) / 3600 AS age_hours
FROM {{ source('agent_runs', 'runs') }}
WHERE
  NOT (
    status IN ('cancelled', 'completed', 'failed', 'timed_out')
  )
  AND missing_from_api_at IS NULL
{% elif target.type in ('athena', 'trino') %}
SELECT
  provider,
  run_id,
  status,
  task,
  agent_id,
  created_at,
  started_at,
  TO_UNIXTIME(CAST(CURRENT_TIMESTAMP - created_at AS TIMESTAMP)) / 3600 AS age_hours
FROM {{ source('agent_runs', 'runs') }}
WHERE
  NOT status IN ('cancelled', 'completed', 'failed', 'timed_out')
  AND missing_from_api_at IS NULL
{% else %}
SELECT
  provider,
  run_id,
  status,
  task,
  agent_id,
  created_at,
  started_at,
  EXTRACT(EPOCH FROM CURRENT_TIMESTAMP - created_at) / 3600 AS age_hours
FROM {{ source('agent_runs', 'runs') }}
WHERE
  NOT status IN ('cancelled', 'completed', 'failed', 'timed_out')
  AND missing_from_api_at IS NULL
{% endif %}

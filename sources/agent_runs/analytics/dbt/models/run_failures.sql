-- Written by `python -m agent_runs.analytics.dbt_package` from agent_runs/analytics/views.py (edit the view there): the SELECT in each dialect sqlglot writes, PostgreSQL's for any other adapter.
{% if target.type in ('sqlserver', 'synapse', 'fabric') %}
SELECT
  provider,
  error_code,
  error_category,
  error_message,
  COUNT_BIG(*) AS runs,
  MAX(created_at) AS last_seen
FROM {{ source('agent_runs', 'runs') }}
WHERE
  status IN ('failed', 'timed_out') OR error_code IS NOT NULL
GROUP BY
  1,
  2,
  3,
  4
{% else %}
SELECT
  provider,
  error_code,
  error_category,
  error_message,
  COUNT(*) AS runs,
  MAX(created_at) AS last_seen
FROM {{ source('agent_runs', 'runs') }}
WHERE
  status IN ('failed', 'timed_out') OR error_code IS NOT NULL
GROUP BY
  1,
  2,
  3,
  4
{% endif %}

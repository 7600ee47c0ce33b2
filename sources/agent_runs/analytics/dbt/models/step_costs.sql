-- Written by `python -m agent_runs.analytics.dbt_package` from agent_runs/analytics/views.py (edit the view there): the SELECT in each dialect sqlglot writes, PostgreSQL's for any other adapter.
{% if target.type in ('sqlserver', 'synapse', 'fabric') %}
SELECT
  provider,
  run_family,
  kind,
  COUNT_BIG(*) AS steps,
  COUNT_BIG(cost_usd) AS steps_with_cost,
  SUM(input_tokens) AS input_tokens,
  SUM(output_tokens) AS output_tokens,
  SUM(cost_usd) AS cost_usd
FROM {{ source('agent_runs', 'run_steps') }}
GROUP BY
  1,
  2,
  3
{% else %}
SELECT
  provider,
  run_family,
  kind,
  COUNT(*) AS steps,
  COUNT(cost_usd) AS steps_with_cost,
  SUM(input_tokens) AS input_tokens,
  SUM(output_tokens) AS output_tokens,
  SUM(cost_usd) AS cost_usd
FROM {{ source('agent_runs', 'run_steps') }}
GROUP BY
  1,
  2,
  3
{% endif %}

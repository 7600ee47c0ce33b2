-- Written by `python -m agent_runs.analytics.dbt_package` from agent_runs/analytics/views.py (edit the view there): the SELECT in each dialect sqlglot writes, PostgreSQL's for any other adapter.
{% if target.type in ('duckdb', 'bigquery', 'databricks', 'clickhouse', 'athena', 'trino') %}
SELECT
  provider,
  kind,
  action,
  url,
  COUNT(*) AS failed_runs
FROM (
  SELECT
    s.provider,
    s.kind,
    s.action,
    s.url,
    ROW_NUMBER() OVER (PARTITION BY s.provider, s.run_id ORDER BY s.step_index DESC NULLS FIRST) AS from_last
  FROM {{ source('agent_runs', 'run_steps') }} AS s
  JOIN {{ source('agent_runs', 'runs') }} AS r
    ON r.provider = s.provider AND r.run_id = s.run_id
  WHERE
    r.status IN ('failed', 'timed_out')
) AS last_steps
WHERE
  from_last = 1
GROUP BY
  1,
  2,
  3,
  4
{% elif target.type in ('sqlserver', 'synapse', 'fabric') %}
SELECT
  provider,
  kind,
  action,
  url,
  COUNT_BIG(*) AS failed_runs
FROM (
  SELECT
    s.provider AS provider,
    s.kind AS kind,
    s.action AS action,
    s.url AS url,
    ROW_NUMBER() OVER (
      PARTITION BY s.provider, s.run_id
      ORDER BY CASE WHEN s.step_index IS NULL THEN 1 ELSE 0 END DESC, s.step_index DESC
    ) AS from_last
  FROM {{ source('agent_runs', 'run_steps') }} AS s
  JOIN {{ source('agent_runs', 'runs') }} AS r
    ON r.provider = s.provider AND r.run_id = s.run_id
  WHERE
    r.status IN ('failed', 'timed_out')
) AS last_steps
WHERE
  from_last = 1
GROUP BY
  1,
  2,
  3,
  4
{% else %}
SELECT
  provider,
  kind,
  action,
  url,
  COUNT(*) AS failed_runs
FROM (
  SELECT
    s.provider,
    s.kind,
    s.action,
    s.url,
    ROW_NUMBER() OVER (PARTITION BY s.provider, s.run_id ORDER BY s.step_index DESC) AS from_last
  FROM {{ source('agent_runs', 'run_steps') }} AS s
  JOIN {{ source('agent_runs', 'runs') }} AS r
    ON r.provider = s.provider AND r.run_id = s.run_id
  WHERE
    r.status IN ('failed', 'timed_out')
) AS last_steps
WHERE
  from_last = 1
GROUP BY
  1,
  2,
  3,
  4
{% endif %}

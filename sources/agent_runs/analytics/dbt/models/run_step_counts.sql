-- Written by `python -m agent_runs.analytics.dbt_package` from agent_runs/analytics/views.py (edit the view there): the SELECT in each dialect sqlglot writes, PostgreSQL's for any other adapter.
{% if target.type in ('duckdb',) %}
SELECT
  r.provider,
  r.run_family,
  r.agent_id,
  COUNT(*) AS runs,
  QUANTILE_CONT(s.step_count, 0.5
  ORDER BY
    s.step_count) AS steps_per_run_p50,
  QUANTILE_CONT(s.step_count, 0.9
  ORDER BY
    s.step_count) AS steps_per_run_p90,
  QUANTILE_CONT(s.step_count, 0.95
  ORDER BY
    s.step_count) AS steps_per_run_p95
FROM {{ source('agent_runs', 'runs') }} AS r
JOIN (
  SELECT
    provider,
    run_id,
    COUNT(*) AS step_count
  FROM {{ source('agent_runs', 'run_steps') }}
  GROUP BY
    1,
    2
) AS s
  ON s.provider = r.provider AND s.run_id = r.run_id
WHERE
  r.status IN ('cancelled', 'completed', 'failed', 'timed_out')
GROUP BY
  1,
  2,
  3
{% elif target.type in ('bigquery',) %}
SELECT
  r.provider,
  r.run_family,
  r.agent_id,
  COUNT(*) AS runs,
  PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY
    s.step_count NULLS LAST) AS steps_per_run_p50,
  PERCENTILE_CONT(0.9) WITHIN GROUP (ORDER BY
    s.step_count NULLS LAST) AS steps_per_run_p90,
  PERCENTILE_CONT(0.95) WITHIN GROUP (ORDER BY
    s.step_count NULLS LAST) AS steps_per_run_p95
FROM {{ source('agent_runs', 'runs') }} AS r
JOIN (
  SELECT
    provider,
    run_id,
    COUNT(*) AS step_count
  FROM {{ source('agent_runs', 'run_steps') }}
  GROUP BY
    1,
    2
) AS s
  ON s.provider = r.provider AND s.run_id = r.run_id
WHERE
  r.status IN ('cancelled', 'completed', 'failed', 'timed_out')
GROUP BY
  1,
  2,
  3
{% elif target.type in ('databricks',) %}
SELECT
  r.provider,
  r.run_family,
  r.agent_id,
  COUNT(*) AS runs,
  PERCENTILE_APPROX(s.step_count, 0.5) AS steps_per_run_p50,
  PERCENTILE_APPROX(s.step_count, 0.9) AS steps_per_run_p90,
  PERCENTILE_APPROX(s.step_count, 0.95) AS steps_per_run_p95
FROM {{ source('agent_runs', 'runs') }} AS r
JOIN (
  SELECT
    provider,
    run_id,
    COUNT(*) AS step_count
  FROM {{ source('agent_runs', 'run_steps') }}
  GROUP BY
    1,
    2
) AS s
  ON s.provider = r.provider AND s.run_id = r.run_id
WHERE
  r.status IN ('cancelled', 'completed', 'failed', 'timed_out')
GROUP BY
  1,
  2,
  3
{% elif target.type in ('sqlserver', 'synapse', 'fabric') %}
SELECT
  r.provider,
  r.run_family,
  r.agent_id,
  COUNT_BIG(*) AS runs,
  PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY
    CASE WHEN s.step_count IS NULL THEN 1 ELSE 0 END, s.step_count) AS steps_per_run_p50,
  PERCENTILE_CONT(0.9) WITHIN GROUP (ORDER BY
    CASE WHEN s.step_count IS NULL THEN 1 ELSE 0 END, s.step_count) AS steps_per_run_p90,
  PERCENTILE_CONT(0.95) WITHIN GROUP (ORDER BY
    CASE WHEN s.step_count IS NULL THEN 1 ELSE 0 END, s.step_count) AS steps_per_run_p95
FROM {{ source('agent_runs', 'runs') }} AS r
JOIN (
  SELECT
    provider AS provider,
    run_id AS run_id,
    COUNT_BIG(*) AS step_count
  FROM {{ source('agent_runs', 'run_steps') }}
  GROUP BY
    1,
    2
) AS s
  ON s.provider = r.provider AND s.run_id = r.run_id
WHERE
  r.status IN ('cancelled', 'completed', 'failed', 'timed_out')
GROUP BY
  1,
  2,
  3
{% elif target.type in ('athena', 'trino') %}
SELECT
  r.provider,
  r.run_family,
  r.agent_id,
  COUNT(*) AS runs,
  APPROX_PERCENTILE(s.step_count, 0.5) AS steps_per_run_p50,
  APPROX_PERCENTILE(s.step_count, 0.9) AS steps_per_run_p90,
  APPROX_PERCENTILE(s.step_count, 0.95) AS steps_per_run_p95
FROM {{ source('agent_runs', 'runs') }} AS r
JOIN (
  SELECT
    provider,
    run_id,
    COUNT(*) AS step_count
  FROM {{ source('agent_runs', 'run_steps') }}
  GROUP BY
    1,
    2
) AS s
  ON s.provider = r.provider AND s.run_id = r.run_id
WHERE
  r.status IN ('cancelled', 'completed', 'failed', 'timed_out')
GROUP BY
  1,
  2,
  3
{% else %}
SELECT
  r.provider,
  r.run_family,
  r.agent_id,
  COUNT(*) AS runs,
  PERCENTILE_CONT(0.5) WITHIN GROUP (ORDER BY
    s.step_count) AS steps_per_run_p50,
  PERCENTILE_CONT(0.9) WITHIN GROUP (ORDER BY
    s.step_count) AS steps_per_run_p90,
  PERCENTILE_CONT(0.95) WITHIN GROUP (ORDER BY
    s.step_count) AS steps_per_run_p95
FROM {{ source('agent_runs', 'runs') }} AS r
JOIN (
  SELECT
    provider,
    run_id,
    COUNT(*) AS step_count
  FROM {{ source('agent_runs', 'run_steps') }}
  GROUP BY
    1,
    2
) AS s
  ON s.provider = r.provider AND s.run_id = r.run_id
WHERE
  r.status IN ('cancelled', 'completed', 'failed', 'timed_out')
GROUP BY
  1,
  2,
  3
{% endif %}

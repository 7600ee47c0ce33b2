-- Written by `python -m agent_runs.analytics.dbt_package` from agent_runs/analytics/views.py (edit the view there): the SELECT in each dialect sqlglot writes, PostgreSQL's for any other adapter.
{% if target.type in ('bigquery', 'databricks') %}
SELECT
  provider,
  run_id,
  'url' AS repeated,
  url AS value,
  COUNT(*) AS times
FROM {{ source('agent_runs', 'run_steps') }}
WHERE
  url IS NOT NULL
GROUP BY
  1,
  2,
  4
HAVING
  COUNT(*) >= 3
UNION ALL
SELECT
  provider,
  run_id,
  'action' AS repeated,
  action AS value,
  MAX(streak) AS times
FROM (
  SELECT
    provider,
    run_id,
    action,
    COUNT(*) AS streak
  FROM (
    SELECT
      provider,
      run_id,
      action,
      step_index - ROW_NUMBER() OVER (PARTITION BY provider, run_id, action ORDER BY step_index NULLS LAST) AS run_of
    FROM {{ source('agent_runs', 'run_steps') }}
    WHERE
      action IS NOT NULL
  ) AS numbered
  GROUP BY
    provider,
    run_id,
    action,
    run_of
) AS streaks
WHERE
  streak >= 3
GROUP BY
  1,
  2,
  4
{% elif target.type in ('sqlserver', 'synapse', 'fabric') %}
SELECT
  provider,
  run_id,
  'url' AS repeated,
  url AS value,
  COUNT_BIG(*) AS times
FROM {{ source('agent_runs', 'run_steps') }}
WHERE
  url IS NOT NULL
GROUP BY
  1,
  2,
  4
HAVING
  COUNT_BIG(*) >= 3
UNION ALL
SELECT
  provider,
  run_id,
  'action' AS repeated,
  action AS value,
  MAX(streak) AS times
FROM (
  SELECT
    provider AS provider,
    run_id AS run_id,
    action AS action,
    COUNT_BIG(*) AS streak
  FROM (
    SELECT
      provider AS provider,
      run_id AS run_id,
      action AS action,
      step_index - ROW_NUMBER() OVER (
        PARTITION BY provider, run_id, action
        ORDER BY CASE WHEN step_index IS NULL THEN 1 ELSE 0 END, step_index
      ) AS run_of
    FROM {{ source('agent_runs', 'run_steps') }}
    WHERE
      action IS NOT NULL
  ) AS numbered
  GROUP BY
    provider,
    run_id,
    action,
    run_of
) AS streaks
WHERE
  streak >= 3
GROUP BY
  1,
  2,
  4
{% else %}
SELECT
  provider,
  run_id,
  'url' AS repeated,
  url AS value,
  COUNT(*) AS times
FROM {{ source('agent_runs', 'run_steps') }}
WHERE
  url IS NOT NULL
GROUP BY
  1,
  2,
  4
HAVING
  COUNT(*) >= 3
UNION ALL
SELECT
  provider,
  run_id,
  'action' AS repeated,
  action AS value,
  MAX(streak) AS times
FROM (
  SELECT
    provider,
    run_id,
    action,
    COUNT(*) AS streak
  FROM (
    SELECT
      provider,
      run_id,
      action,
      step_index - ROW_NUMBER() OVER (PARTITION BY provider, run_id, action ORDER BY step_index) AS run_of
    FROM {{ source('agent_runs', 'run_steps') }}
    WHERE
      action IS NOT NULL
  ) AS numbered
  GROUP BY
    provider,
    run_id,
    action,
    run_of
) AS streaks
WHERE
  streak >= 3
GROUP BY
  1,
  2,
  4
{% endif %}

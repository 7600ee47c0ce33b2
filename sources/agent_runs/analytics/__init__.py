"""Analytics over the loaded tables: the views (views), the dbt package written from them
(dbt_package, dbt/) and built by `agent-runs transform` (transform), and the HTML report (report,
step_charts)."""

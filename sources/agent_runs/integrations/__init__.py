"""Schedulers: Dagster assets of the load (dagster_assets) and the load partitioned by account
(dagster_partitions)."""

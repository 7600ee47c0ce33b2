"""Loading and checking the destination: a load run from Python or the command (pipeline), where
rows are merged into DuckDB (duckdb_merge), the rows already loaded read back (loaded), what a
load did (summary), and the table compared with the APIs (verify)."""

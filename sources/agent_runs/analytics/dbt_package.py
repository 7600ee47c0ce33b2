"""The dbt package shipped in `agent_runs/analytics/dbt/` is written from the views and the column contract,
so neither is a second copy that could drift: its models are the SELECTs of views.py (one branch
per SQL dialect, as sqlglot writes them for `create_views`), its sources, descriptions and tests
come from schema.py. After changing either, write the package again (a test checks it is current):

    python -m agent_runs.analytics.dbt_package

Hand-written parts of the package (`dbt_project.yml`, `macros/`) are left alone.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from agent_runs.analytics.views import ALL_VIEWS, DESCRIPTIONS, WRITTEN_IN, in_dialect
from agent_runs.rows.schema import RUN_STEPS_COLUMNS, RUNS_COLUMNS, STATUS_VALUES
from agent_runs.settings import DATASET_NAME, PRIMARY_KEY, STEPS_PRIMARY_KEY, STEPS_TABLE_NAME, TABLE_NAME

PACKAGE_DIR = Path(__file__).parent / "dbt"
SOURCE = "agent_runs"
LOADS_TABLE = "_dlt_loads"  # dlt's record of loads: the freshness check reads its newest

# dbt's `target.type` -> the sqlglot dialect dlt's destination of that kind declares; any other
# adapter gets the text as written (PostgreSQL's: standard SQL where it can be).
DIALECTS = {
    "duckdb": "duckdb",
    "redshift": "redshift",
    "snowflake": "snowflake",
    "bigquery": "bigquery",
    "databricks": "databricks",
    "sqlserver": "tsql",
    "synapse": "tsql",
    "fabric": "fabric",
    "clickhouse": "clickhouse",
    "athena": "athena",
    "trino": "trino",
}
DEFAULT_DIALECT = WRITTEN_IN
# Stand for the sources while sqlglot rewrites a SELECT.
_TABLES = {TABLE_NAME: "agent_runs__runs__", STEPS_TABLE_NAME: "agent_runs__run_steps__"}
HEADER = (
    "-- Written by `python -m agent_runs.analytics.dbt_package` from agent_runs/analytics/views.py (edit the view there):"
    " the SELECT in each dialect sqlglot writes, PostgreSQL's for any other adapter.\n"
)


def model_sql(name: str) -> str:
    """A view's SELECT as a dbt model: the dialect of the target's adapter, over the `runs` source."""
    texts: dict[str, list[str]] = {}  # SQL -> the adapters that get it
    for target_type, dialect in DIALECTS.items():
        texts.setdefault(_select(name, dialect), []).append(target_type)
    default = _select(name, DEFAULT_DIALECT)
    branches = [
        f"{{% {'if' if not i else 'elif'} target.type in {tuple(types)!r} %}}\n{sql}\n"
        for i, (sql, types) in enumerate((sql, types) for sql, types in texts.items() if sql != default)
    ]
    if not branches:
        return HEADER + default + "\n"
    return HEADER + "".join(branches) + f"{{% else %}}\n{default}\n{{% endif %}}\n"


def _select(name: str, dialect: str) -> str:
    sql = in_dialect(
        ALL_VIEWS[name].format(runs=_TABLES[TABLE_NAME], steps=_TABLES[STEPS_TABLE_NAME]), dialect, pretty=True
    )
    if not any(stand_in in sql for stand_in in _TABLES.values()):
        raise ValueError(f"view {name}: sqlglot's {dialect} text names no table of the package's sources")
    for table, stand_in in _TABLES.items():
        sql = sql.replace(stand_in, f"{{{{ source('{SOURCE}', '{table}') }}}}")
    return sql


def sources_yml() -> dict:
    """The `runs` table with every column's description and the contract's tests, and dlt's loads
    table with the freshness check."""
    source = {
        "name": SOURCE,
        "description": "What `agent-runs load` writes: the unified `runs` and `run_steps` tables and dlt's loads.",
        "schema": f"{{{{ var('agent_runs_schema', var('source_dataset_name', '{DATASET_NAME}')) }}}}",
        "tables": [runs_source_table(), steps_source_table(), loads_source_table()],
    }
    return {"version": 2, "sources": [source]}


def runs_source_table() -> dict:
    """`runs` as a dbt source: each column described, the contract's tests."""
    columns = []
    for name, column in RUNS_COLUMNS.items():
        tests: list = []
        if column.get("nullable", True) is False:
            tests.append({"not_null": {"name": f"{TABLE_NAME}_{name}_not_null"}})
        if name == "status":
            tests.append(
                {
                    "accepted_values": {
                        "name": f"{TABLE_NAME}_status_accepted_values",
                        "arguments": {"values": STATUS_VALUES},
                    }
                }
            )
        columns.append({"name": name, "description": column["description"], **({"data_tests": tests} if tests else {})})
    not_before = [("started_at", "created_at"), ("finished_at", "started_at"), ("finished_at", "created_at")]
    runs = {
        "name": TABLE_NAME,
        "description": "One row per run of every provider: the connector's contract (agent_runs/schema.py).",
        "data_tests": [
            {
                "agent_runs_unique_together": {
                    "name": f"{TABLE_NAME}_{'_'.join(PRIMARY_KEY)}_unique",
                    "arguments": {"columns": list(PRIMARY_KEY)},
                }
            },
            *(
                {
                    "agent_runs_not_before": {
                        "name": f"{TABLE_NAME}_{later}_not_before_{earlier}",
                        "arguments": {"column": later, "other": earlier},
                    }
                }
                for later, earlier in not_before
            ),
        ],
        "columns": columns,
    }
    return runs


def steps_source_table() -> dict:
    """`run_steps` as a dbt source: each column described; every step's run is in `runs`, a step id
    is unique within its run, and a run's steps are numbered 0, 1, ... without a gap."""
    columns = [{"name": name, "description": column["description"]} for name, column in RUN_STEPS_COLUMNS.items()]
    keys = list(PRIMARY_KEY)
    tests = [
        {
            "agent_runs_unique_together": {
                "name": f"{STEPS_TABLE_NAME}_{'_'.join(STEPS_PRIMARY_KEY)}_unique",
                "arguments": {"columns": list(STEPS_PRIMARY_KEY)},
            }
        },
        {
            "agent_runs_has_parent": {
                "name": f"{STEPS_TABLE_NAME}_run_is_in_{TABLE_NAME}",
                "arguments": {"columns": keys, "parent": f"source('{SOURCE}', '{TABLE_NAME}')"},
            }
        },
        {
            "agent_runs_numbered_from_zero": {
                "name": f"{STEPS_TABLE_NAME}_step_index_numbers_each_run",
                "arguments": {"group_by": keys, "column": "step_index"},
            }
        },
    ]
    description = "One row per step (event, message, timeline node) of an ended run (agent_runs/schema.py)."
    return {"name": STEPS_TABLE_NAME, "description": description, "data_tests": tests, "columns": columns}


def loads_source_table() -> dict:
    """dlt's loads table as a dbt source, with the freshness check."""
    hours = {
        threshold: {"count": f"{{{{ var('agent_runs_{threshold}_hours') | int }}}}", "period": "hour"}
        for threshold in ("warn_after", "error_after")
    }
    loads = {
        "name": LOADS_TABLE,
        "description": "dlt's record of every load into the dataset (status 0: completed).",
        # `dbt source freshness` in a project of yours; `agent-runs transform` runs the test below,
        # as `dbt test` and `dbt build` do not check freshness. Both read the same thresholds.
        "loaded_at_field": "inserted_at",
        "freshness": {**hours, "filter": "status = 0"},
        "columns": [{"name": "inserted_at", "description": "when the load completed"}],
        "data_tests": [
            {"agent_runs_loaded_within": {"name": "newest_load_is_recent", "arguments": {"column": "inserted_at"}}}
        ],
    }
    return loads


def models_yml() -> dict:
    return {"version": 2, "models": [{"name": name, "description": DESCRIPTIONS[name]} for name in ALL_VIEWS]}


def package_files() -> dict[str, str]:
    """Path under the package -> the text written there."""
    dump = dict(sort_keys=False, allow_unicode=True, width=120)
    files = {
        "models/_agent_runs__sources.yml": "# Written by `python -m agent_runs.analytics.dbt_package` from agent_runs/rows/schema.py.\n"
        + yaml.safe_dump(sources_yml(), **dump),
        "models/_agent_runs__models.yml": "# Written by `python -m agent_runs.analytics.dbt_package` from agent_runs/analytics/views.py.\n"
        + yaml.safe_dump(models_yml(), **dump),
    }
    files.update({f"models/{name}.sql": model_sql(name) for name in ALL_VIEWS})
    return files


def write_package(directory: Path = PACKAGE_DIR) -> list[Path]:
    """Write the generated files (and remove models of views that are gone)."""
    files = package_files()
    for stale in (directory / "models").glob("*.sql"):
        if f"models/{stale.name}" not in files:
            stale.unlink()
    written = []
    for relative, text in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_package():
        print(path)

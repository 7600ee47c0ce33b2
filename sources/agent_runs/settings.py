"""Names, defaults and batch sizes: the knobs of the source, in one place (each provider's
endpoint, page size and filters are in its module under providers/). What they were measured
at is in benchmarks/RESULTS.md."""

from datetime import UTC, datetime, timedelta

SOURCE_NAME = "agent_runs"  # the source's name, config section and logger
DATASET_NAME = "agent_runs"
TABLE_NAME = "runs"
PRIMARY_KEY = ("provider", "run_id")
STEPS_TABLE_NAME = "run_steps"
STEPS_PRIMARY_KEY = ("provider", "run_id", "step_id")
STEP_TEXT_MAX_CHARS = 2000  # a step's memory, goal or message in `run_steps.text`; the rest is cut
STEPS_RUNS_AT_ONCE = 1000  # runs whose steps are held before their rows go on (bounds the memory steps take)
KEPT_CONNECTIONS = 32  # kept-alive connections per API key: every thread that may ask at once (requests keeps 10)
DEFAULT_DUCKDB_FILE = "agent-runs.duckdb"  # not agent_runs.duckdb: that collides with the schema name

# Every load lists again the runs created this long before the newest one it has: a run's
# created_at is stamped when it is created, but the list may show it later than runs created
# after it (a transaction that commits late, a read replica behind). Runs loaded before are
# skipped there, so the cost is the part of a page that window holds.
RELIST_LAG = timedelta(minutes=10)
# A run whose list declares `late_fields` (a judge's verdict that may come after the run ended) is
# read again by id while it ended less than this long before the newest run loaded.
LATE_FILL_FOR = timedelta(hours=1)
REFRESH_WORKERS = 8  # concurrent fetches by id (429s are retried after Retry-After)
# Requests in flight per API key (transport.RequestPace): from INITIAL_CONCURRENCY, one more while the
# API keeps up, halved on a 429 while halving helps; never more than MAX_CONCURRENCY (nor than
# there is work for).
INITIAL_CONCURRENCY = 2
MAX_CONCURRENCY = 8
# Requests in flight in all, whatever the number of accounts loaded at once: each key keeps its own
# pace under this bound, so hundreds of accounts hold no more sockets and pages than a few.
MAX_IN_FLIGHT = 32
# Threads the walks of every account share (reading/walks/tasks.py): a walk's thread waits for a request
# slot or for dlt to take its pages, so a few more than the requests in flight.
WALK_THREADS = 256
# After a 429 requests of the key are paced: never closer than MIN_INTERVAL_S apart from then on
# (creeping down from there), never further than MAX_INTERVAL_S. A slower pace is kept only if the
# next PACE_TRIAL_ANSWERS answers at it came faster than as many before it, Retry-Afters included
# (else it is given back: refusals that do not follow the pace are waited out, never paced). A request refused
# for RATE_LIMITED_FOR_S in a row goes to dlt's retries (and fails the load if they are spent too).
MIN_INTERVAL_S = 0.01
MAX_INTERVAL_S = 5.0
PACE_TRIAL_ANSWERS = 20
RATE_LIMITED_FOR_S = 600.0
LONG_HOLD_S = 10.0  # a wait the rate-limit headers ask for that is worth a warning
ROWS_PER_YIELD = 200  # refreshed-by-id rows handed to dlt at a time
ROWS_PER_COMPARISON = 2000  # re-listed open runs compared with their loaded rows at a time (one query)
ROWS_PER_TABLE = 10_000  # listed rows handed to dlt at a time, as one Arrow table (dlt's cost is per item)
ROWS_PER_MAPPING = 500  # listed runs mapped to Arrow at a time (mapping costs per call; a page may hold 100)

# Parallel backfill (`workers` > 1): the created-at range is cut into about this many windows per
# worker, none shorter than MIN_BACKFILL_WINDOW (so an hourly load stays one cursor walk). A
# first load finds its oldest run by probing from EARLIEST_RUN_PROBE to within PROBE_RESOLUTION;
# runs older than that are still loaded, by the first window, which has no lower bound.
WINDOWS_PER_WORKER = 4
MIN_BACKFILL_WINDOW = timedelta(hours=1)
EARLIEST_RUN_PROBE = datetime(2020, 1, 1, tzinfo=UTC)
PROBE_RESOLUTION = timedelta(hours=1)

# Walking at once (reading/walks/): concurrent windows cost CPU (threads take turns at decoding pages), so
# they are worth it only while pages keep us waiting: a first page that came faster than
# WINDOWS_WORTH_WAIT_S (several times what mapping it takes, and above a loopback hiccup) is read
# on as one walk. An idle worker takes half of a window only if that half holds WORTH_CUTTING_PAGES
# pages or more (a cut costs about two requests).
WINDOWS_WORTH_WAIT_S = 0.04
WORTH_CUTTING_PAGES = 4
# How long a walk waits for a page before saying none is ready: each waiting account costs the others a turn.
PAGE_WAIT_S = 0.001
RECENT_PAGES = 4  # pages of run ids a walk remembers to drop repeats (runs arriving push rows down)
WALK_PROGRESS_EVERY_S = 10.0  # how often a walk at once says how far it is (INFO)
DLT_PROGRESS_EVERY_S = 5.0  # how often dlt's progress (`--progress`) is written to stderr

# Python's cycle collector runs each time 700 more container objects are alive than at its last
# pass, and a batch of decoded pages holds thousands (a run is a few dicts): every pass then walks
# dlt's long-lived objects. Pages are freed by reference counting whatever the threshold; only the
# few cycles a request leaves behind wait a little longer to be collected.
GC_THRESHOLD = 10_000

# DuckDB would take most of the machine's memory for the merge of a big first load; capped, it
# spills to disk instead, so a small scheduler worker can load millions of runs. One thread: each
# thread adds its own buffers, for little gain on a merge of a few seconds.
DUCKDB_SETTINGS = {"memory_limit": "64MB", "threads": 1, "preserve_insertion_order": False}
# Pipelines loading one dataset at once (Dagster's partitions) race to create its tables; the load
# step is tried again this many times in all, a random pause of up to SCHEMA_RACE_PAUSE_S apart.
SCHEMA_UPDATE_ATTEMPTS = 5
SCHEMA_RACE_PAUSE_S = 1.0
DBT_SCHEMA_SUFFIX = "_dbt"  # `agent-runs transform` builds the dbt models into <dataset>_dbt
VERIFY_VALUE_CHARS = 60  # a drifted value is cut short to this many characters in the report

"""The field and status maps applied: a list of API records as `runs` columns (from_pages.py decides
which records go together). Each provider module gives a field map (unified column -> path in the API's record) and a status map. A value
that is missing becomes null; a value of the wrong type becomes null in its column and is kept,
as sent, in `extra` together with every field the map does not know - so no field the API sends
is ever dropped. Columns are built whole, in Arrow; one odd value sends only its column through
the per-value path."""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from decimal import Context, Decimal, InvalidOperation
from itertools import compress, repeat
from types import NoneType
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from agent_runs.errors import InvalidRecord
from agent_runs.providers.base import FieldMap
from agent_runs.rows.schema import (
    ARROW_TYPES,
    COST_PRECISION,
    COST_SCALE,
    DEFAULT_ACCOUNT,
    RUNS_ARROW_SCHEMA,
    RUNS_COLUMNS,
    UNIFIED_STATUSES,
    UNKNOWN_STATUS,
    json_text,
    parse_timestamp,
)

REQUIRED_COLUMNS = ("run_id", "created_at")
NO_STATUS_MAP: Mapping[str, str] = {}


def unified_status(provider_status: Any, statuses: Mapping[str, str] = NO_STATUS_MAP) -> str:
    """The unified status of a provider's spelling: from the provider's status map (matched
    ignoring case), else the spelling in lower case if that is a unified status, else unknown."""
    if not isinstance(provider_status, str):
        return UNKNOWN_STATUS
    lower = provider_status.lower()
    for spelling, unified in statuses.items():
        if spelling.lower() == lower:
            return unified
    return lower if lower in UNIFIED_STATUSES else UNKNOWN_STATUS


def _unified_statuses(provider_status: pa.Array, statuses: Mapping[str, str]) -> pa.Array:
    """The status column, reading each distinct spelling once (a value that is not text is null
    here, and reads as unknown, as it does in unified_status)."""
    spellings = pc.unique(provider_status)
    unified = pa.array([unified_status(spelling, statuses) for spelling in spellings.to_pylist()], pa.string())
    return pc.fill_null(pc.take(unified, pc.index_in(provider_status, spellings)), UNKNOWN_STATUS)


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # a numeric code is still a code: coerced, nothing lost
    raise TypeError(f"expected a string, got {type(value).__name__}")


def _integer(value: Any) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        if not -(2**63) <= value < 2**63:
            raise ValueError("integer out of the bigint range")
        return value
    raise TypeError(f"expected an integer, got {type(value).__name__}")


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise TypeError(f"expected a boolean, got {type(value).__name__}")


def _number(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    raise TypeError(f"expected a number, got {type(value).__name__}")


def _decimal(value: Any) -> Decimal:
    """A decimal as the APIs write money: a numeric string (or a number), kept exact to COST_SCALE places."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise TypeError(f"expected a decimal, got {type(value).__name__}")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"not a decimal: {value!r}") from None
    if not number.is_finite() or abs(number) >= Decimal(10) ** (COST_PRECISION - COST_SCALE):
        raise ValueError(f"decimal out of range: {value!r}")
    return number.quantize(Decimal(1).scaleb(-COST_SCALE), context=Context(prec=2 * COST_PRECISION))


# The Python type every value of a column has on the fast path; anything else is converted one by one.
EXPECTED_TYPES: dict[str, type] = {"text": str, "timestamp": str, "bigint": int, "bool": bool}
CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "text": _text,
    "timestamp": parse_timestamp,
    "bigint": _integer,
    "bool": _boolean,
    "double": _number,
    "decimal": _decimal,
}


def _column_array(data_type: str, values: list[Any]) -> tuple[pa.Array, list[int]]:
    """The values as an Arrow column, and the positions whose value did not fit its type (null there).
    Whole columns are converted at once; one odd value sends the column through the per-value path."""
    arrow_type = ARROW_TYPES[data_type]
    if data_type == "json":
        return pa.array([None if value is None else json_text(value) for value in values], arrow_type), []
    if data_type in EXPECTED_TYPES and set(map(type, values)) <= {EXPECTED_TYPES[data_type], NoneType}:
        try:
            if data_type == "timestamp":
                return timestamps(pa.array(values, pa.string())), []
            return pa.array(values, arrow_type), []
        except (pa.ArrowInvalid, OverflowError):
            pass  # e.g. a time without an offset, or nanoseconds: the per-value path reads them
    converted: list[Any] = []
    rejected: list[int] = []
    convert = CONVERTERS[data_type]
    for position, value in enumerate(values):
        if value is None:
            converted.append(None)
            continue
        try:
            converted.append(convert(value))
        except (TypeError, ValueError, OverflowError):
            converted.append(None)  # kept as sent in `extra` rather than aborting the load
            rejected.append(position)
    return pa.array(converted, arrow_type), rejected


def timestamps(text: pa.Array) -> pa.Array:
    """ISO 8601 strings as UTC timestamps, the whole column at once: with offsets, or all without
    one (UTC meant, as some APIs write them). ArrowInvalid for a mix or anything else."""
    try:
        return text.cast(ARROW_TYPES["timestamp"])
    except pa.ArrowInvalid:
        return text.cast(pa.timestamp("us")).cast(ARROW_TYPES["timestamp"])  # naive: the values are UTC


NO_OBJECT: dict[str, Any] = {}  # where a record has no object under a nested field's parent


class PageFields:
    """A page's records read against a provider's field map: each column's values, the parents of
    nested fields read once, and which records hold something no column takes."""

    def __init__(self, records: list[dict[str, Any]], fields: FieldMap, secret_fields: Collection[str] = ()) -> None:
        self.records = records
        self.fields = fields
        self.known: dict[str, set[str]] = {}  # top-level key -> the nested keys columns take (none: a value)
        for path in fields.values():
            self.known.setdefault(path[0], set()).update(path[1:])
        for key in secret_fields:  # taken by no column and never kept
            self.known.setdefault(key, set())
        self.parents: dict[str, list[dict[str, Any]]] = {}  # objects only: NO_OBJECT for anything else
        self.odd_parents: set[int] = set()  # records whose parent of nested fields is not an object
        for head, keys in self.known.items():
            if keys:
                parents = list(map(dict.get, records, repeat(head)))
                if not set(map(type, parents)) <= {dict, NoneType}:
                    self.odd_parents.update(
                        position for position, parent in enumerate(parents) if type(parent) not in (dict, NoneType)
                    )
                self.parents[head] = [parent if type(parent) is dict else NO_OBJECT for parent in parents]

    def values(self, path: tuple[str, ...]) -> list[Any]:
        head = path[0]
        if len(path) == 1:
            return list(map(dict.get, self.records, repeat(head)))
        return list(map(dict.get, self.parents[head], repeat(path[1])))

    def with_unknown_fields(self) -> set[int]:
        """Positions of the records holding a field no column takes, found key by key for the whole
        page (a few unknown keys a page at most), not record by record."""
        positions = set(self.odd_parents)  # such a parent stays whole in extra

        def holding_unknown(dicts: list[dict[str, Any]], keys: Collection[str]) -> None:
            for key in set().union(*dicts).difference(keys):
                positions.update(compress(range(len(dicts)), map(dict.__contains__, dicts, repeat(key))))

        holding_unknown(self.records, self.known.keys())
        for head, parents in self.parents.items():
            holding_unknown(parents, self.known[head])
        return positions

    def leftover(self, position: int, rejected: Collection[str]) -> dict[str, Any] | None:
        """What of a record no column holds: unknown fields, and values of the wrong type as sent
        (a nested field's parent that is not an object stays whole)."""
        kept = {self.fields[column] for column in rejected}  # rejected: a column (or `verdict:who`)
        extra: dict[str, Any] = {}
        for key, value in self.records[position].items():
            nested = self.known.get(key)
            if nested is None or (key,) in kept:
                extra[key] = value
            elif nested and value is not None:
                if not isinstance(value, dict):
                    extra[key] = value
                elif left := {
                    name: inner for name, inner in value.items() if name not in nested or (key, name) in kept
                }:
                    extra[key] = left
        return extra or None


@dataclass(frozen=True)
class Derived:
    """Columns a record gives through more than a path: summed counters, a verdict taken from the
    most trusted of several, and JSON sent as text (see RunList's fields of the same names)."""

    summed_fields: Mapping[str, tuple[tuple[str, ...], ...]] = field(default_factory=dict)
    verdicts: tuple[tuple[str, tuple[str, ...]], ...] = ()
    json_text_fields: tuple[str, ...] = ()


NOTHING_DERIVED = Derived()


def to_table(
    provider: str,
    fields: FieldMap,
    records: list[dict[str, Any]],
    account: str = DEFAULT_ACCOUNT,
    statuses: Mapping[str, str] = NO_STATUS_MAP,
    run_family: str | None = None,
    secret_fields: Collection[str] = (),
    derived: Derived = NOTHING_DERIVED,
) -> pa.Table:
    """A page of API records as `runs` rows in Arrow, column by column: dlt writes it to Parquet
    as it is, skipping its row-by-row normaliser.

    Args:
        provider: the `provider` column's value.
        fields: the provider's field map (unified column -> path in its record).
        records: the runs as the API sent them (decoded JSON objects).
        account: the `account` column's value.
        statuses: the provider's status map (spelling -> unified status).
        run_family: the `run_family` column's value (the run list's name).
        secret_fields: keys of the record never stored, not even in `extra`.
        derived: the columns summed, judged or decoded from several fields.
    """
    for record in records:
        if not isinstance(record, dict):
            raise InvalidRecord(f"expected a run object, got {type(record).__name__}: {_preview(record)}")
    verdict_paths = dict(derived.verdicts)
    page = PageFields(
        records, {**fields, **{f"verdict:{who}": path for who, path in verdict_paths.items()}}, secret_fields
    )
    arrays, rejected_by_row = mapped_columns(page, derived)
    for column in REQUIRED_COLUMNS:
        if arrays[column].null_count:
            record = records[arrays[column].is_null().index(True).as_py()]
            raise InvalidRecord(f"run without a valid `{'.'.join(fields[column])}`: {_preview(record)}")
    extras: list[str | None] = [None] * len(records)  # the common case: every field has its column
    for position in page.with_unknown_fields().union(rejected_by_row):
        leftover = page.leftover(position, rejected_by_row.get(position, ()))
        extras[position] = None if leftover is None else json_text(leftover)
    count = len(records)
    arrays["provider"] = pa.array([provider] * count, pa.string())
    arrays["account"] = pa.array([account] * count, pa.string())
    arrays["run_family"] = pa.array([run_family] * count, pa.string())
    arrays["status"] = _unified_statuses(arrays["provider_status"], statuses)
    if "started_at" in arrays and "finished_at" in arrays:
        elapsed_us = pc.subtract(arrays["finished_at"], arrays["started_at"]).cast(pa.int64())
        arrays["duration_s"] = pc.divide(elapsed_us.cast(pa.float64()), 1e6)
    arrays["extra"] = pa.array(extras, pa.string())
    columns = [
        arrays[name] if name in arrays else pa.nulls(count, RUNS_ARROW_SCHEMA.field(name).type)
        for name in RUNS_ARROW_SCHEMA.names
    ]
    return pa.Table.from_arrays(columns, schema=RUNS_ARROW_SCHEMA)


def mapped_columns(page: PageFields, derived: Derived) -> tuple[dict[str, pa.Array], dict[int, set[str]]]:
    """The page's mapped columns (summed and judged ones too), and per row the columns whose value
    did not fit its type (kept in `extra` instead)."""
    arrays: dict[str, pa.Array] = {}
    rejected_by_row: dict[int, set[str]] = {}
    for column, path in page.fields.items():
        data_type = "bool" if column.startswith("verdict:") else RUNS_COLUMNS[column]["data_type"]
        values = page.values(path)
        if column in derived.json_text_fields:
            values = list(map(decoded_json_text, values))
        arrays[column], rejected = _column_array(data_type, values)
        for position in rejected:
            rejected_by_row.setdefault(position, set()).add(column)
    for column, paths in derived.summed_fields.items():  # the counters themselves stay in `extra`
        data_type = RUNS_COLUMNS[column]["data_type"]
        arrays[column] = summed([_column_array(data_type, page.values(path))[0] for path in paths])
    if derived.verdicts:
        arrays["goal_achieved"], arrays["goal_verdict_by"] = first_verdict(
            [(who, arrays.pop(f"verdict:{who}")) for who in dict(derived.verdicts)]
        )
    return arrays, rejected_by_row


def decoded_json_text(value: Any) -> Any:
    """A JSON object or array sent as text, decoded; any other value as it is."""
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            pass
    return value


def summed(columns: list[pa.Array]) -> pa.Array:
    """The sum of counters, a missing one counting 0; null where every counter is missing."""
    total = columns[0]
    for column in columns[1:]:
        both_null = pc.and_(total.is_null(), column.is_null())
        total = pc.if_else(
            both_null, pa.nulls(len(total), total.type), pc.add(pc.fill_null(total, 0), pc.fill_null(column, 0))
        )
    return total


def first_verdict(verdicts: list[tuple[str, pa.Array]]) -> tuple[pa.Array, pa.Array]:
    """The first verdict given of each row (most trusted first), and whose it is."""
    achieved = pc.coalesce(*(verdict for _, verdict in verdicts))
    who = pc.coalesce(
        *(pc.if_else(verdict.is_valid(), pa.scalar(name), pa.scalar(None, pa.string())) for name, verdict in verdicts)
    )
    return achieved, who


def _preview(record: Any, limit: int = 200) -> str:
    text = repr(dict(record) if isinstance(record, Mapping) else record)
    return text if len(text) <= limit else text[:limit] + "..."

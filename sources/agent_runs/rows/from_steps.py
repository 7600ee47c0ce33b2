"""Where a run's steps become `run_steps` rows: the provider's step declaration (`StepsRead`)
applied to the step records of each run. A tree (a timeline) is flattened with each node's parent;
`step_index` numbers a run's steps by time, ties in the order the API lists them. Every field not
mapped goes to `extra`, less what must never be stored: the declared secret fields, base64
content and signed URLs."""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import orjson
import pyarrow as pa

from agent_runs.providers import RunList
from agent_runs.providers.base import StepsRead
from agent_runs.rows.schema import RUN_STEPS_ARROW_SCHEMA, json_text, parse_timestamp
from agent_runs.settings import STEP_TEXT_MAX_CHARS

# Query parameters that make a URL a credential (S3, GCS, Azure SAS, CloudFront, tokens).
SIGNING_PARAMS = re.compile(r"signature|credential|token|^sig$|^se$|^sp$|^key-pair-id$|^policy$|^expires$", re.I)
BASE64_TEXT = re.compile(r"^(data:[^,]*,)?[A-Za-z0-9+/=\s]{512,}$")  # long, and nothing but base64
DURATION_TEXT = re.compile(r"^\s*([0-9.]+)\s*(ms|s|m|min|h)?\s*$")
DURATION_UNITS = {"s": 1.0, None: 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}  # and "ms": divided by 1000


def step_rows(run_list: RunList, account: str, steps_by_run: Mapping[str, list[Any]]) -> pa.Table:
    """The `run_steps` rows of these runs (run id -> its step records as the API sent them)."""
    read = run_list.steps
    assert read is not None, f"{run_list.runs_path} has no steps"
    rows: list[dict[str, Any]] = []
    for run_id, records in steps_by_run.items():
        run_rows = [
            step_row(read, record, parent, position)
            for position, (record, parent) in enumerate(flattened(read, records))
        ]
        ordered = sorted(range(len(run_rows)), key=lambda n: started_first(run_rows[n], n))
        for index, position in enumerate(ordered):
            row = run_rows[position]
            row.update(
                provider=run_list.provider.name,
                account=account,
                run_id=run_id,
                run_family=run_list.name,
                step_index=index,
                step_id=row["step_id"] if row["step_id"] is not None else f"{run_id}#{position}",
            )
            rows.append(row)
    return pa.Table.from_pylist(rows, schema=RUN_STEPS_ARROW_SCHEMA)


def started_first(row: dict[str, Any], position: int) -> tuple[bool, Any, int]:
    """Steps in time order, then as listed (a step with no time after those with one)."""
    return row["started_at"] is None, row["started_at"] or 0, position


def flattened(read: StepsRead, records: list[Any]) -> Iterator[tuple[dict[str, Any], str | None]]:
    """Each step record with its parent's step id (None at the top), depth first."""
    for record in records:
        if not isinstance(record, dict):
            continue
        yield record, None
        if read.children_path is not None:
            parent = first_value(record, read.fields.get("step_id", ()))
            for child, grand_parent in flattened(read, record.get(read.children_path) or []):
                yield child, grand_parent if grand_parent is not None else text_or_none(parent)


def step_row(read: StepsRead, record: dict[str, Any], parent: str | None, position: int) -> dict[str, Any]:
    """One step record's columns (the run's keys and `step_index` are set by step_rows)."""
    value = {column: first_value(record, paths) for column, paths in read.fields.items()}
    kind = first_value(record, (read.kind_path,)) if read.kind_path else None
    action = value.get("action")
    if read.action_in_json_key and isinstance(action, str):
        action = json_key(action)
    consumed = [path for paths in read.fields.values() for path in paths]
    if read.children_path is not None:
        consumed.append((read.children_path,))
    leftover = scrubbed(without_paths(record, consumed), read.secret_fields)
    return {
        "step_id": text_or_none(value.get("step_id")),
        "started_at": timestamp_or_none(value.get("started_at")),
        "kind": kind if isinstance(kind, str) else read.kind,
        "action": text_or_none(action),
        "url": unsigned(text_or_none(value.get("url"))),
        "status": text_or_none(value.get("status")),
        "error_message": text_or_none(value.get("error_message")),
        "duration_s": seconds(value.get("duration_s"), read.duration_unit),
        "input_tokens": integer_or_none(value.get("input_tokens")),
        "output_tokens": integer_or_none(value.get("output_tokens")),
        "cost_usd": decimal_or_none(value.get("cost_usd")),
        "parent_step_id": parent,
        "text": cut(joined_text(value.get("text"))),
        "extra": json_text(leftover) if leftover else None,
    }


def first_value(record: Any, paths: tuple[tuple[str, ...], ...]) -> Any:
    """The value at the first of these paths (keys, or list positions as digits) that holds one."""
    for path in paths:
        value = record
        for key in path:
            if isinstance(value, dict):
                value = value.get(key)
            elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
                value = value[int(key)]
            else:
                value = None
            if value is None:
                break
        if value is not None:
            return value
    return None


def without_paths(record: dict[str, Any], paths: list[tuple[str, ...]]) -> dict[str, Any]:
    """A copy of the record less the plain values at these paths (an object left empty goes too):
    a list or an object read into a column (a message's parts) stays whole in `extra`."""
    leftover = dict(record)
    for path in paths:
        if not path or path[-1].isdigit() or any(key.isdigit() for key in path):
            continue  # a list element stays in its list, in `extra`
        remove(leftover, path)
    return leftover


def remove(container: dict[str, Any], path: tuple[str, ...]) -> None:
    head, rest = path[0], path[1:]
    if head not in container:
        return
    if not rest:
        if not isinstance(container[head], dict | list):  # taken whole into a column; a structure stays
            del container[head]
        return
    if isinstance(container[head], dict):
        container[head] = dict(container[head])
        remove(container[head], rest)
        if not container[head]:
            del container[head]


def scrubbed(value: Any, secret_fields: tuple[str, ...] = ()) -> Any:
    """The value less what must never be stored: keys named secret, base64 content, signed URLs."""
    if isinstance(value, dict):
        kept = {}
        for key, item in value.items():
            if key in secret_fields:
                continue
            clean = scrubbed(item, secret_fields)
            if clean is not None or item is None:
                kept[key] = clean
        return kept
    if isinstance(value, list):
        return [scrubbed(item, secret_fields) for item in value]
    if isinstance(value, str):
        if BASE64_TEXT.match(value):
            return None
        if value.startswith(("http://", "https://")):
            return unsigned(value)
    return value


def unsigned(url: str | None) -> str | None:
    """The URL without its query string where the query signs it (a presigned or tokened link)."""
    if url is None or "?" not in url:
        return url
    parts = urlsplit(url)
    if any(SIGNING_PARAMS.search(name) for name, _ in parse_qsl(parts.query, keep_blank_values=True)):
        return urlunsplit(parts._replace(query="", fragment=""))
    return url


def json_key(text: str) -> str:
    """The first key of a JSON object given as text (an action such as `{"click": {...}}`)."""
    try:
        decoded = orjson.loads(text)
    except orjson.JSONDecodeError:
        return text
    return next(iter(decoded), text) if isinstance(decoded, dict) and decoded else text


def joined_text(value: Any) -> str | None:
    """Text as it is, or the text parts of a message's content (`[{type, text}, ...]`) joined."""
    if isinstance(value, str) or value is None:
        return value
    if isinstance(value, list):
        parts = [part.get("text") for part in value if isinstance(part, dict) and isinstance(part.get("text"), str)]
        return "\n".join(parts) if parts else None
    return None


def cut(text: str | None) -> str | None:
    return text if text is None or len(text) <= STEP_TEXT_MAX_CHARS else text[: STEP_TEXT_MAX_CHARS - 1] + "…"


def text_or_none(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return None
    return str(value) if isinstance(value, int | float) else None


def timestamp_or_none(value: Any) -> Any:
    try:
        return parse_timestamp(value)
    except (TypeError, ValueError):
        return None


def seconds(value: Any, unit: str) -> float | None:
    """A duration in seconds: a number in `unit`, or text such as "1.2s" or "350ms"."""
    if isinstance(value, str):
        match = DURATION_TEXT.match(value)
        if match is None:
            return None
        try:
            number = float(match.group(1))
        except ValueError:
            return None
        return number / 1000 if match.group(2) == "ms" else number * DURATION_UNITS[match.group(2)]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return value / 1000 if unit == "ms" else float(value)


def integer_or_none(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**63) <= value < 2**63:
        return None
    return value


def decimal_or_none(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    if not amount.is_finite() or abs(amount) >= Decimal(10) ** 29:
        return None
    return amount.quantize(Decimal("1e-9"))

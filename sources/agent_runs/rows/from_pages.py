"""Where pages become rows: the runs of one or more pages of a list mapped to `runs` rows, as one
Arrow table (mapping.to_table). Mapping costs a fixed number of Arrow calls whatever the number
of runs, so a walk joins consecutive pages before mapping them."""

from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pyarrow as pa

from agent_runs.errors import InvalidRecord, MalformedPage
from agent_runs.providers import RunList
from agent_runs.reading.paging import Page
from agent_runs.rows.mapping import NOTHING_DERIVED, Derived, to_table
from agent_runs.rows.schema import DEFAULT_ACCOUNT


def page_rows(
    run_list: RunList,
    records: list[Any],
    where: str,
    account: str = DEFAULT_ACCOUNT,
    confirmation: bool = False,
) -> pa.Table:
    """Runs of the list (or, with `confirmation`, of its authoritative read) as `runs` rows; a run
    that cannot be keyed fails with MalformedPage naming `where` it came from."""
    try:
        return to_table(
            run_list.provider.name,
            run_list.confirm_fields if confirmation else run_list.fields,
            records,
            account,
            run_list.status_map,
            run_list.name,
            run_list.secret_fields,
            NOTHING_DERIVED
            if confirmation
            else Derived(run_list.summed_fields, run_list.verdicts, run_list.json_text_fields),
        )
    except InvalidRecord as error:
        raise MalformedPage(f"{run_list.provider.display_name}: {error} (page {where})") from None


def rows_of_pages(
    run_list: RunList,
    pages: Iterable[Page],
    account: str,
    min_runs: int | Callable[[], int] = 1,
    at_least_one: bool = True,
) -> Iterator[pa.Table]:
    """The pages' runs as `runs` rows, consecutive pages joined until they hold at least `min_runs`
    (a function is asked at every page: a walk that goes page by page once cut). A listing without
    runs is one empty table (unless not `at_least_one`: none)."""
    records: list[Any] = []
    joined, yielded, url = 0, not at_least_one, run_list.runs_path
    for page in pages:
        records += page.records
        joined += 1
        url = page.url
        if len(records) >= (min_runs() if callable(min_runs) else min_runs):
            yield page_rows(run_list, records, pages_up_to(joined, url), account)
            records, joined, yielded = [], 0, True
    if records or not yielded:
        yield page_rows(run_list, records, pages_up_to(joined, url), account)


def pages_up_to(pages: int, url: str) -> str:
    return url if pages == 1 else f"{url} or one of the {pages - 1} before it"

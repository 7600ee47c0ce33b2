"""The report as a person sees it: the demo data loaded, `agent-runs report` run, the file opened
in headless Chromium (Debian's package, no network), every chart on screen and no console errors."""

from __future__ import annotations

import shutil
from itertools import pairwise
from pathlib import Path
from typing import Any

import duckdb
import pytest
from PIL import Image
from playwright.sync_api import sync_playwright

from tests.utils import agent_runs, copy_of

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHARTS = [
    "Runs per day",
    "Success rate over time",
    "Duration distribution",
    "Top failure causes",
    "Open runs by age",
    "Spend over time",
    "Goal rate and completion rate by model",
    "Cost per run that reached its goal",
    "Steps per run",
    "Where failed runs stopped",
    "Runs that loop",
    "Where the tokens go",
]
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def report(demo: Path, tmp_path: Path) -> Path:
    """The report of the demo's data (a copy of the shared demo), written where `--out` says."""
    work = copy_of(demo, tmp_path)
    result = agent_runs(work, "report", "--out", "report.html")
    assert result.returncode == 0, result.stderr
    return work / "report.html"


def test_the_report_is_one_file_that_needs_no_network_and_every_chart_renders_in_chromium(
    report: Path,
) -> None:
    """One report, looked at twice: as a file (no script, nothing fetched) and as a person sees it."""
    text = report.read_text()
    assert "<script" not in text and "http://" not in text.replace("http://www.w3.org", "")
    assert text.count("<svg") == len(CHARTS)
    if CHROMIUM is None:
        pytest.skip("needs Debian's chromium (.ci/run installs it)")
    workdir = report.parent
    with duckdb.connect(str(workdir / "agent-runs.duckdb"), read_only=True) as connection:
        (loaded,) = connection.execute("SELECT count(*) FROM agent_runs_demo.runs").fetchone()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        console_errors: list[str] = []
        page.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: console_errors.append(str(error)))
        page.goto(report.as_uri())
        assert page.locator("header").inner_text().startswith(f"{loaded:,}")  # total runs loaded
        figures = page.locator("figure.chart")
        assert [figures.nth(index).get_attribute("data-title") for index in range(figures.count())] == CHARTS
        for index, title in enumerate(CHARTS):
            chart = figures.nth(index).locator("svg")
            box = chart.bounding_box()
            assert box is not None and box["width"] > 200 and box["height"] > 100, title
            shot = workdir / f"chart-{index}.png"
            chart.screenshot(path=str(shot))
            colours = Image.open(shot).convert("RGB").getcolors(maxcolors=1 << 16) or []
            drawn = sum(count for count, colour in colours if colour != (255, 255, 255))
            assert len(colours) > 8 and drawn > 0.03 * box["width"] * box["height"], f"{title} looks empty"
            # What an analyst reads: every axis has a title, and no two tick labels of an axis touch.
            axes = figures.nth(index).locator("g.role-axis")
            titled = figures.nth(index).locator("g.role-axis-title text")
            assert titled.count() >= 2 and all(
                (titled.nth(n).text_content() or "").strip() for n in range(titled.count())
            ), title
            for axis in range(axes.count()):
                labels = [box for box in label_boxes(axes.nth(axis)) if box["width"] > 0]
                for first, second in pairwise(labels):
                    assert not overlap(first, second), f"{title}: tick labels overlap"
        # Open runs are spread over several age buckets (ages are measured at the newest run loaded).
        age_chart = figures.nth(CHARTS.index("Open runs by age"))
        bars = age_chart.locator("g.role-mark path")
        buckets = {
            round(box["x"])
            for box in (bars.nth(n).bounding_box() for n in range(bars.count()))
            if box and box["height"] > 0
        }
        assert len(buckets) >= 2, "every open run falls in one age bucket"
        assert "UTC" in page.locator("header").inner_text()
        page.screenshot(path=str(workdir / "report.png"), full_page=True)
        browser.close()
    assert console_errors == []


def label_boxes(axis: Any) -> list[dict[str, float]]:
    """The boxes of the tick labels an axis shows (Vega keeps the ones it hides, at opacity 0)."""
    texts = axis.locator("g.role-axis-label text:not([opacity='0'])")
    return [box for box in (texts.nth(n).bounding_box() for n in range(texts.count())) if box is not None]


def overlap(first: dict[str, float], second: dict[str, float]) -> bool:
    return not (
        first["x"] + first["width"] <= second["x"]
        or second["x"] + second["width"] <= first["x"]
        or first["y"] + first["height"] <= second["y"]
        or second["y"] + second["height"] <= first["y"]
    )


def test_a_report_before_any_load_says_what_to_do(workdir: Path) -> None:
    result = agent_runs(workdir, "report")
    assert result.returncode == 2 and "run `agent-runs load` first" in result.stderr
    assert "Traceback" not in result.stderr and not (workdir / "agent-runs-report.html").exists()

"""The planner's map ready to print and to read on a phone (issue: reports a committee can read):
街道 labels, a legend of the numbered proposals, gap hexagons beneath the covered streets, a print
button, and on a phone a title that overlaps no control. Real pipeline on Shenzhen Nanshan, headless
Chromium."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from maps.coverage import GAPS_PANE, coverage_map
from tests.maps.conftest import ARTIFACTS, Browser, LocalServer, RealCoverage, shenzhen_pois

pytestmark = pytest.mark.browser

READY = "!!(window.yizhanLayers && window.yizhanLayers.stations && window.yizhanLayers.stations._map)"
RECT = "(s => { const e = document.querySelector(s); if (!e) return null;" \
       " const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })"


def _overlap(a: list[float] | None, b: list[float] | None) -> bool:
    if a is None or b is None:
        return False
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.fixture(scope="module")
def page_html(real_coverage: RealCoverage) -> str:
    res = real_coverage.result
    shops = shenzhen_pois().head(4)
    proposals = pd.DataFrame({
        "order": [1, 2, 3, 4], "name": ["<img src=x onerror=alert(1)>", "二号点", "三号点", "四号点"],
        "lon": shops.geometry.x.to_list(), "lat": shops.geometry.y.to_list(),
        "gain": [6.0, 4.0, 2.0, 1.0], "cumulative_share": [0.6, 0.7, 0.75, 0.77],
    })
    m = coverage_map(res.stations, covered=real_coverage.covered, gaps=real_coverage.gaps,
                     areas=real_coverage.areas, by_area=res.by_area, proposals=proposals,
                     headline=res.summary.as_dict(), minutes=real_coverage.minutes, tiles="none",
                     assets="local", date="2026-12-05")
    return str(m.get_root().render())


def test_print_ready_layers(browser: Browser, server: LocalServer, page_html: str,
                            real_coverage: RealCoverage) -> None:
    report = browser.load(server.page("print.html", page_html), ready=READY)
    assert report.errors == [], report.errors
    named = real_coverage.areas["area_name"].notna().sum()
    assert browser.evaluate("document.querySelectorAll('.yz-area-label').length") == named
    labels = browser.evaluate("[...document.querySelectorAll('.yz-area-label')].map(e => e.textContent)")
    assert set(labels) == set(real_coverage.areas["area_name"].dropna())
    legend = browser.evaluate("document.querySelector('.yz-legend-proposals').textContent")
    assert "建议新建站点" in legend and "四号点" in legend and "<img" in legend  # escaped, shown as text
    assert browser.evaluate("document.querySelectorAll('.yz-legend-proposals img').length") == 0
    # gaps live in their own pane beneath Leaflet's overlay pane (the covered streets and areas)
    in_pane = browser.evaluate(f"document.querySelectorAll('.leaflet-{GAPS_PANE}-pane path.yz-gap').length")
    assert in_pane == len(real_coverage.gaps)
    z: Any = browser.evaluate(
        f"[+getComputedStyle(document.querySelector('.leaflet-{GAPS_PANE}-pane')).zIndex,"
        " +getComputedStyle(document.querySelector('.leaflet-overlay-pane')).zIndex]")
    assert z[0] < z[1]
    assert browser.evaluate("!!document.querySelector('button.yz-print')")


@pytest.mark.parametrize(("width", "height"), [(390, 844), (360, 640), (1280, 900)])
def test_title_overlaps_no_control(browser: Browser, server: LocalServer, page_html: str,
                                   width: int, height: int) -> None:
    browser.load(server.page(f"phone{width}.html", page_html), width=width, height=height,
                 mobile=width < 640, ready=READY)
    title = browser.evaluate(f"{RECT}('.yz-title')")
    assert title is not None
    for control in (".leaflet-control-zoom", ".leaflet-control-layers", ".yz-print-box",
                    ".leaflet-control-zoom-fullscreen"):
        assert not _overlap(title, browser.evaluate(f"{RECT}('{control}')")), control
    assert title[0] >= 0 and title[2] <= width
    browser.screenshot(ARTIFACTS / f"coverage_map_{width}.png")

"""Station operations in a real browser: accepted worker reports show under their station in the finder,
as text (a report's markup is never executed)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest

from maps.finder import finder_page
from tests.maps.conftest import Browser, LocalServer

pytestmark = pytest.mark.browser

NASTY = '<img src=x onerror="window.pwned=1">'


def test_finder_shows_accepted_reports_as_text(
    browser: Browser, server: LocalServer, stations: gpd.GeoDataFrame
) -> None:
    lon, lat = 113.9360, 22.5440
    open_ = stations[stations["status"] == "open"].reset_index(drop=True)
    nearest = open_.iloc[int(np.argmin(np.hypot(open_.geometry.x - lon, open_.geometry.y - lat)))]
    reports = {
        str(nearest["station_id"]): [{"label": "报告设施损坏 · 2 小时前", "text": f"饮水机坏了{NASTY}"}]
    }
    html = finder_page(stations, api_base=None, tiles="none", assets="inline", reports=reports)
    url = server.page("ops_finder.html", html)
    report = browser.load(
        f"{url}?lon={lon}&lat={lat}",
        width=390,
        height=844,
        mobile=True,
        ready="!!(window.yizhanFinder && window.yizhanFinder.state.done > 0)",
    )
    assert report.errors == []
    lines = browser.evaluate("Array.from(document.querySelectorAll('.yz-report')).map(e => e.textContent)")
    assert lines == [f"报告设施损坏 · 2 小时前：饮水机坏了{NASTY}"]
    assert browser.evaluate("document.querySelectorAll('.yz-report img').length") == 0
    assert browser.evaluate("window.pwned === undefined") is True

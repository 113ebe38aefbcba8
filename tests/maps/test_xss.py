"""Stored XSS (issue #15): a station, area or gap whose text is a script payload is shown as text on
every map page, never run. Headless Chromium opens every tooltip and popup of a coverage map and of
the finder page built from payload data and checks that no payload ran; the API serves its HTML
pages with a Content-Security-Policy whose script hashes match the page's inline scripts."""

from __future__ import annotations

import geopandas as gpd
import pytest

from maps.coverage import coverage_map
from maps.csp import content_security_policy
from maps.finder import finder_page
from tests.maps.conftest import Browser, LocalServer, RealCoverage, only_local

pytestmark = pytest.mark.browser

PAYLOAD = '<img src="x-{0}" onerror="window.__xss=(window.__xss||[]).concat([\'{0}\'])">'

#: opens every tooltip and popup of every Leaflet map on the page (GeoJSON tooltips on hover)
OPEN_EVERYTHING = """(() => {
  const maps = Object.values(window).filter(v => v instanceof L.Map);
  let opened = 0;
  for (const map of maps) {
    const layers = [];
    map.eachLayer(l => layers.push(l));
    for (const l of layers) {
      if (l.getLayers && l.getChildCount === undefined && l.getLayers().length && l.getTooltip()) {
        for (const sub of l.getLayers()) {
          const at = sub.getBounds ? sub.getBounds().getCenter() : sub.getLatLng();
          sub.fire('mouseover', {latlng: at, target: sub}, true);
          opened += 1;
        }
      }
      if (l.getTooltip && l.getTooltip() && !l.getLayers) { l.openTooltip(); opened += 1; }
      if (l.getPopup && l.getPopup() && !l.getLayers) { l.openPopup(); opened += 1; }
    }
    const clusters = window.yizhanLayers && window.yizhanLayers.stations;
    if (clusters) {
      for (const mk of clusters.getLayers()) {
        L.popup().setLatLng(mk.getLatLng()).setContent(mk.getPopup().getContent()).openOn(map);
        opened += 1;
      }
    }
  }
  return opened;
})()"""


def _payload_frames(real: RealCoverage) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    stations = real.result.stations.copy()
    stations["name"] = [PAYLOAD.format(f"station{i}") for i in range(len(stations))]
    stations["address"] = PAYLOAD.format("address")
    gaps = real.gaps.copy()
    for column in ("nearest_station_name", "main_group"):
        if column in gaps.columns:
            gaps[column] = PAYLOAD.format(column)
    areas = real.areas.copy()
    areas["area_name"] = PAYLOAD.format("area")
    return stations, gaps, areas


def test_coverage_map_runs_no_payload(
    browser: Browser, server: LocalServer, real_coverage: RealCoverage
) -> None:
    stations, gaps, areas = _payload_frames(real_coverage)
    assert "nearest_station_name" in gaps.columns  # the tooltip field of the trial's finding
    m = coverage_map(stations, gaps=gaps, areas=areas, minutes=real_coverage.minutes, tiles="none",
                     assets="local", title=PAYLOAD.format("title"))  # fmt: skip
    report = browser.load(server.page("xss_coverage.html", m.get_root().render()), ready="!!window.L")
    assert only_local(report.requests) == []
    opened = browser.evaluate(OPEN_EVERYTHING)
    assert opened > len(stations)
    browser.evaluate("new Promise(r => setTimeout(r, 1500))")
    assert browser.evaluate("window.__xss || null") is None
    shown = browser.evaluate("document.body.innerText")
    assert '<img src="x-area"' in shown and '<img src="x-nearest_station_name"' in shown


def test_finder_runs_no_payload(browser: Browser, server: LocalServer, real_coverage: RealCoverage) -> None:
    stations, _, _ = _payload_frames(real_coverage)
    html = finder_page(stations, api_base="", lang="zh", tiles="none", assets="local")
    browser.load(server.page("xss_finder.html", html), ready="!!document.querySelector('.yz-all-station')")
    opened = browser.evaluate(HOVER_FINDER_STATIONS)
    assert opened >= len(stations)
    browser.evaluate("new Promise(r => setTimeout(r, 1500))")
    assert browser.evaluate("window.__xss || null") is None
    tips = browser.evaluate("[...document.querySelectorAll('.leaflet-tooltip')].map(t => t.innerText)")
    assert any(t.startswith('<img src="x-station') for t in tips), tips


#: the finder keeps its map in a closure: hover every station marker as a pointer would
HOVER_FINDER_STATIONS = """(() => {
  const marks = document.querySelectorAll('.yz-all-station');
  const over = () => new MouseEvent('mouseover', {bubbles: true, clientX: 5, clientY: 5});
  marks.forEach(el => el.dispatchEvent(over()));
  return marks.length; })()"""


def _with_csp_meta(html: str) -> str:
    policy = content_security_policy(html).replace("; frame-ancestors 'self'", "")  # (header only)
    meta = f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
    return html.replace("<head>", "<head>" + meta, 1)


def test_pages_work_under_their_csp_and_it_blocks_injected_script(
    browser: Browser, server: LocalServer, real_coverage: RealCoverage
) -> None:
    """Each page loads cleanly under its own policy (no violation, map drawn), and an injected
    inline handler (as if escaping were missing) is refused by the policy."""
    stations, gaps, areas = _payload_frames(real_coverage)
    m = coverage_map(
        stations, gaps=gaps, areas=areas, minutes=real_coverage.minutes, tiles="none", assets="local"
    )
    pages = {"csp_coverage.html": m.get_root().render(),
             "csp_finder.html": finder_page(stations, api_base="", tiles="none", assets="local")}  # fmt: skip
    for name, html in pages.items():
        report = browser.load(
            server.page(name, _with_csp_meta(html)), ready="!!document.querySelector('.leaflet-pane')"
        )
        assert report.errors == [], (name, report.errors)
        ran = browser.evaluate(
            "(() => { const d = document.createElement('div');"
            ' d.innerHTML = \'<img src="x-inject" onerror="window.__xss=1">\';'
            " document.body.appendChild(d);"
            " return new Promise(r => setTimeout(() => r(window.__xss || null), 1000)); })()"
        )
        assert ran is None, name

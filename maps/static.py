"""Static maps for printed reports, drawn offline with matplotlib (no tiles, no browser).

One map shows, bottom to top: the gap hexagons (uncovered demand, darker = more workers), the
township/街道 boundaries with their names, the streets of the network, demand points that lie
outside the service circle, the existing stations by status, and the proposed sites numbered in build
order, with a legend, a scale bar and a north arrow. Everything is WGS-84 (EPSG:4326) in, drawn in an
equirectangular projection scaled by cos(latitude) so that distances read true near the map's centre.

Each ``draw_*`` function takes an axis and a frame, draws one layer and returns the artists' legend
handles, like the ``add_*`` functions of the web maps.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import font_manager
from matplotlib.collections import LineCollection
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from geo.network import Network

#: CJK fonts tried in order (Debian: fonts-wqy-microhei, installed by make setup; or Noto CJK)
CJK_FONTS: tuple[str, ...] = ("WenQuanYi Micro Hei", "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC")
STATUS_STYLE: dict[str, tuple[str, str, str]] = {  # status -> (colour, marker, Chinese label)
    "open": ("#c62828", "o", "现有站点（开放）"),
    "planned": ("#ef6c00", "s", "规划中站点"),
    "suspended": ("#757575", "X", "暂停站点"),
    "closed": ("#9e9e9e", "x", "已关闭站点"),
}
PROPOSAL_COLOR = "#1565c0"
GAP_COLOR = "#f03b20"
#: demand points whose coverage differs between two plans: change -> (colour, marker, Chinese label)
DEMAND_CHANGE_STYLE: dict[str, tuple[str, str, str]] = {
    "gained": ("#2e7d32", "o", "新获得覆盖的需求点"),
    "lost": ("#e65100", "x", "失去覆盖的需求点"),
}
#: stations that differ between two plans: change -> (colour, marker, Chinese label)
STATION_CHANGE_STYLE: dict[str, tuple[str, str, str]] = {
    "added": ("#1b5e20", "P", "新增站点"),
    "closed": ("#795548", "X", "关闭站点"),
    "relocated": ("#6a1b9a", "D", "迁址站点（箭头：原址→新址）"),
}


def cjk_font() -> str | None:
    """The first installed CJK font family of :data:`CJK_FONTS`, or None."""
    installed = {f.name for f in font_manager.fontManager.ttflist}
    return next((name for name in CJK_FONTS if name in installed), None)


def _aspect(lat: float) -> float:
    return 1.0 / max(math.cos(math.radians(lat)), 1e-6)


def draw_streets(ax: Any, network: Network, *, bbox: Sequence[float]) -> list[Any]:
    """Streets of ``network`` (every arc once) inside ``bbox`` as thin grey lines."""
    tails = network.tails
    heads = network.indices
    keep = tails < heads if network.symmetric else np.ones(tails.size, dtype=bool)
    lon0, lat0, lon1, lat1 = bbox
    t, h = tails[keep], heads[keep]
    inside = ((network.lon[t] >= lon0) & (network.lon[t] <= lon1) & (network.lat[t] >= lat0)
              & (network.lat[t] <= lat1))
    t, h = t[inside], h[inside]
    segments = np.stack([np.column_stack([network.lon[t], network.lat[t]]),
                         np.column_stack([network.lon[h], network.lat[h]])], axis=1)
    ax.add_collection(LineCollection(list(segments), colors="#8d8d8d", linewidths=0.35, zorder=3))
    return [Line2D([], [], color="#8d8d8d", lw=1, label="道路（路网）")]


def draw_gaps(ax: Any, gaps: gpd.GeoDataFrame | None) -> list[Any]:
    """Gap hexagons shaded by uncovered weight, beneath the streets."""
    if gaps is None or gaps.empty:
        return []
    weight = gaps["uncovered_weight"].to_numpy(dtype=float)
    alpha = 0.15 + 0.55 * weight / max(float(weight.max()), 1e-9)
    for geom, a in zip(gaps.geometry, alpha, strict=True):
        xs, ys = geom.exterior.xy
        ax.fill(xs, ys, color=GAP_COLOR, alpha=float(a), lw=0, zorder=1)
    return [Patch(color=GAP_COLOR, alpha=0.5, label="覆盖空白（颜色越深，未覆盖劳动者越多）")]


def draw_areas(ax: Any, areas: gpd.GeoDataFrame | None, *, bbox: Sequence[float]) -> list[Any]:
    """Area (乡镇/街道) boundaries with their names at a point inside each."""
    if areas is None or areas.empty:
        return []
    areas.boundary.plot(ax=ax, color="#5e35b1", linewidth=0.9, linestyle="--", zorder=2)
    lon0, lat0, lon1, lat1 = bbox
    points = areas.geometry.representative_point()
    for name, point in zip(areas["area_name"].astype(str), points, strict=True):
        if lon0 <= point.x <= lon1 and lat0 <= point.y <= lat1:
            ax.annotate(name, (point.x, point.y), fontsize=7, color="#4527a0", ha="center", zorder=8,
                        bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.7})
    return [Line2D([], [], color="#5e35b1", lw=1, ls="--", label="街道/乡镇界")]


def draw_uncovered_demand(ax: Any, demand: gpd.GeoDataFrame | None) -> list[Any]:
    """Demand points outside the service circle as small dots."""
    if demand is None or demand.empty or "covered" not in demand:
        return []
    out = demand[~demand["covered"].astype(bool)]
    ax.scatter(out.geometry.x, out.geometry.y, s=2, color="#bf360c", alpha=0.6, lw=0, zorder=4)
    return [Line2D([], [], marker=".", color="#bf360c", lw=0, label="服务圈外的需求点")]


def draw_stations(ax: Any, stations: gpd.GeoDataFrame | None) -> list[Any]:
    """Existing stations by status."""
    if stations is None or stations.empty:
        return []
    handles = []
    status = stations["status"].astype(str) if "status" in stations else pd.Series("open", stations.index)
    for code, (color, marker, label) in STATUS_STYLE.items():
        rows = stations[status == code]
        if len(rows):
            ax.scatter(rows.geometry.x, rows.geometry.y, s=28, color=color, marker=marker,
                       edgecolors="white", linewidths=0.6, zorder=6)
            handles.append(Line2D([], [], marker=marker, color=color, lw=0, label=label))
    return handles


def draw_proposals(ax: Any, proposals: gpd.GeoDataFrame | None) -> list[Any]:
    """Proposed sites as numbered circles in build order."""
    if proposals is None or proposals.empty:
        return []
    for order, x, y in zip(proposals["order"].astype(int), proposals["lon"], proposals["lat"], strict=True):
        ax.scatter([x], [y], s=150, color=PROPOSAL_COLOR, edgecolors="white", linewidths=1, zorder=7)
        ax.annotate(str(order), (x, y), color="white", fontsize=7, ha="center",
                    va="center", zorder=9)
    return [Line2D([], [], marker="o", color=PROPOSAL_COLOR, lw=0, markersize=9,
                   label="建议新增站点（数字为建设顺序）")]


def draw_changed_demand(ax: Any, changed: gpd.GeoDataFrame | None) -> list[Any]:
    """Demand points that gain or lose coverage from one plan to the other (column ``change``)."""
    if changed is None or changed.empty:
        return []
    handles = []
    for change, (color, marker, label) in DEMAND_CHANGE_STYLE.items():
        rows = changed[changed["change"] == change]
        if len(rows):
            ax.scatter(rows.geometry.x, rows.geometry.y, s=9, color=color, marker=marker, alpha=0.85,
                       lw=0.9 if marker == "x" else 0, zorder=5)
            handles.append(Line2D([], [], marker=marker, color=color, lw=0, markersize=4, label=label))
    return handles


def draw_station_changes(ax: Any, changes: gpd.GeoDataFrame | None) -> list[Any]:
    """Stations added, closed and relocated (an arrow from the old point to the new one), labelled with
    their names; ``changes`` as :func:`geo.scenario.compare.station_changes` returns."""
    if changes is None or changes.empty:
        return []
    handles = []
    for change, (color, marker, label) in STATION_CHANGE_STYLE.items():
        rows = changes[changes["change"] == change]
        if not len(rows):
            continue
        ax.scatter(rows.geometry.x, rows.geometry.y, s=70, color=color, marker=marker, edgecolors="white",
                   linewidths=0.8, zorder=7)
        for r in rows.itertuples(index=False):
            if change == "relocated":
                ax.annotate("", xy=(r.lon_b, r.lat_b), xytext=(r.lon_a, r.lat_a), zorder=7,
                            arrowprops={"arrowstyle": "-|>", "color": color, "lw": 1.2})
            ax.annotate(str(r.name), (r.geometry.x, r.geometry.y), xytext=(5, 4), textcoords="offset points",
                        fontsize=6.5, color=color, zorder=9)
        handles.append(Line2D([], [], marker=marker, color=color, lw=0, markersize=7, label=label))
    return handles


def draw_scale_bar(ax: Any, *, bbox: Sequence[float]) -> None:
    """A scale bar of a round length (about a fifth of the width) and a north arrow."""
    lon0, lat0, lon1, lat1 = bbox
    meters_per_degree = 111_320.0 * math.cos(math.radians((lat0 + lat1) / 2))
    width_m = (lon1 - lon0) * meters_per_degree
    exponent = 10 ** math.floor(math.log10(max(width_m / 5, 1)))
    length_m = max(s * exponent for s in (1, 2, 5) if s * exponent <= max(width_m / 5, 1))
    x0, y0 = lon0 + 0.04 * (lon1 - lon0), lat0 + 0.05 * (lat1 - lat0)
    x1 = x0 + length_m / meters_per_degree
    ax.plot([x0, x1], [y0, y0], color="black", lw=2.5, solid_capstyle="butt", zorder=10)
    label = f"{length_m / 1000:g} 公里" if length_m >= 1000 else f"{length_m:g} 米"
    ax.annotate(label, ((x0 + x1) / 2, y0), xytext=(0, 4), textcoords="offset points", ha="center",
                fontsize=7, zorder=10)
    ax.annotate("N", xy=(lon1 - 0.04 * (lon1 - lon0), lat1 - 0.05 * (lat1 - lat0)),
                xytext=(lon1 - 0.04 * (lon1 - lon0), lat1 - 0.14 * (lat1 - lat0)), ha="center",
                fontsize=9, arrowprops={"arrowstyle": "-|>", "color": "black"}, zorder=10)


def map_bbox(*frames: gpd.GeoDataFrame | None, pad: float = 0.04) -> tuple[float, float, float, float]:
    """The WGS-84 box around the given frames' geometries, padded by ``pad`` of its size."""
    bounds = np.array([f.total_bounds for f in frames if f is not None and not f.empty])
    if bounds.size == 0:
        raise ValueError("a static map needs at least one non-empty frame")
    lon0, lat0 = bounds[:, 0].min(), bounds[:, 1].min()
    lon1, lat1 = bounds[:, 2].max(), bounds[:, 3].max()
    dx, dy = max(lon1 - lon0, 1e-3) * pad, max(lat1 - lat0, 1e-3) * pad
    return float(lon0 - dx), float(lat0 - dy), float(lon1 + dx), float(lat1 + dy)


def static_map_png(
    network: Network | None,
    *,
    stations: gpd.GeoDataFrame | None = None,
    demand: gpd.GeoDataFrame | None = None,
    gaps: gpd.GeoDataFrame | None = None,
    proposals: gpd.GeoDataFrame | None = None,
    areas: gpd.GeoDataFrame | None = None,
    changed_demand: gpd.GeoDataFrame | None = None,
    station_changes: gpd.GeoDataFrame | None = None,
    title: str = "",
    width_inches: float = 7.0,
    dpi: int = 220,
) -> bytes:
    """Draw one static map and return it as PNG bytes (all inputs EPSG:4326, none mutated).

    The extent covers the demand, stations, proposals, areas and changes given; streets, gaps and labels
    are clipped to it. ``changed_demand`` (points with ``change`` gained/lost) and ``station_changes``
    (added/closed/relocated) draw the difference between two plans. ``dpi`` 220 at 7 inches wide is
    sharp on an A4 page.
    """
    bbox = map_bbox(demand, stations, proposals, areas, changed_demand, station_changes)
    font = cjk_font()
    with plt.rc_context({"font.family": [font] if font else ["sans-serif"], "axes.unicode_minus": False}):
        aspect = _aspect((bbox[1] + bbox[3]) / 2)
        ratio = (bbox[3] - bbox[1]) * aspect / (bbox[2] - bbox[0])
        fig, ax = plt.subplots(figsize=(width_inches, max(3.0, min(width_inches * ratio, 9.0)) + 0.9))
        handles = draw_gaps(ax, gaps) + draw_areas(ax, areas, bbox=bbox)
        if network is not None:
            handles += draw_streets(ax, network, bbox=bbox)
        handles += draw_uncovered_demand(ax, demand) + draw_stations(ax, stations)
        handles += draw_proposals(ax, proposals)
        handles += draw_changed_demand(ax, changed_demand) + draw_station_changes(ax, station_changes)
        draw_scale_bar(ax, bbox=bbox)
        ax.set_xlim(bbox[0], bbox[2])
        ax.set_ylim(bbox[1], bbox[3])
        ax.set_aspect(aspect)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel("")
        ax.set_ylabel("")
        if title:
            ax.set_title(title, fontsize=11)
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.01), ncol=2, fontsize=7,
                  frameon=False)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi)
        plt.close(fig)
    return buf.getvalue()

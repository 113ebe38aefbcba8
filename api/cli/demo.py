"""``yizhan demo``: the main job end to end on the real Shenzhen Nanshan sample.

1. loads the Nanshan OSM extract into walk and e-bike networks (cached after the first run);
2. takes the existing stations — the bank branches in the extract stand in for today's bank-hosted
   stations (劳动者港湾); ``--stations FILE`` uses a planner's own file instead. Nothing is written to
   the registry (``yizhan stations import`` does that); a planner's own area is ``yizhan report``;
3. builds demand from the POIs (delivery riders around food and shops) plus street length;
4. computes 15-minute coverage for walking and e-bikes, the gaps, and a plan for 5 new stations;
5. writes ``out/demo/`` through :func:`api.cli.report.write_report` (the files of ``yizhan report``):
   planner map, finder map, per-area/group tables (CSV, XLSX), gaps and proposals (GeoJSON), a Chinese
   Markdown report; prints a summary.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import pandas as pd
import shapely
import typer

from api.cli._common import domain_errors, fail, setup_logging
from api.cli.inputs import STATIONS_CRS_OPT
from api.cli.lang import say
from geo.config import data_dir as default_data_dir

if TYPE_CHECKING:  # rich is imported when the demo runs, not on every `yizhan` start
    from rich.console import Console

log = logging.getLogger(__name__)

BANK_SOURCE = "osm-bank-branches"
BANK_NOTE = (
    "现有站点：示例数据中的银行网点（OSM）代表今天由银行承建的“劳动者港湾”/户外劳动者服务站点；"
    "用 --stations 文件可换成真实站点清单。"
)
PLACE = "深圳市南山区 粤海/南头/沙河街道（OSM 样例核心区）"
DEMAND_NOTE = (
    "需求：POI（餐饮、商超 → 外卖骑手/快递员）按 data/demand_rules.toml 计权，加上沿街道长度的需求点"
    "（环卫工作业的代理指标，layer=street_length）。"
)


def _has_cjk(text: str) -> bool:
    return any("\u4e00" <= c <= "\u9fff" for c in text)


def bank_station_rows(pois: gpd.GeoDataFrame) -> pd.DataFrame:
    """Station rows (import headers) for the bank branches among the POIs (EPSG:4326)."""
    banks = pois[pois["amenity"].astype("string").fillna("") == "bank"]
    rows = []
    for _, rec in banks.iterrows():
        name = next((str(rec[c]) for c in ("name", "name:zh", "name:en")
                     if c in rec.index and isinstance(rec[c], str) and rec[c].strip()), "银行网点")
        rows.append({
            "external_id": f"osm:{rec['osm_type']}/{rec['osm_id']}",
            "name": f"{name}劳动者港湾" if _has_cjk(name) else f"{name} workers' station",
            "kind": "outdoor_worker_station",
            "status": "open",
            "host_org": name,
            "lon": rec.geometry.x,
            "lat": rec.geometry.y,
        })
    return pd.DataFrame(rows)


def register(app: typer.Typer) -> None:
    """Add ``yizhan demo`` to the main app."""

    @app.command("demo")
    @domain_errors
    def demo(
        data_dir: Path | None = typer.Option(None, help="real data directory (default YIZHAN_DATA_DIR)"),
        stations: Path | None = typer.Option(
            None, help="your own station file (CSV/XLSX/GeoJSON) instead of the bank branches"),
        stations_crs: str | None = STATIONS_CRS_OPT,
        out: Path = typer.Option(Path("out/demo"), help="output directory"),
        minutes: float = typer.Option(15.0, min=1, max=120, help="service threshold T in minutes"),
        add: int = typer.Option(5, min=1, max=50, help="new stations to site"),
        method: str = typer.Option("exact", help="exact (HiGHS) or greedy"),
        lang: str = typer.Option(
            "", "--lang", help="zh or en: table headers (default YIZHAN_LANG, else zh)"),
        json_out: bool = typer.Option(False, "--json", help="print the headline numbers as JSON"),
        verbose: bool = typer.Option(False, "--verbose", "-v"),
    ) -> None:
        """Run the main job on the real Shenzhen Nanshan sample and write out/demo/."""
        setup_logging(verbose)
        from api.cli.lang import command_lang
        from api.cli.report import write_report
        from geo.checks import check_choice
        from geo.siting.plan import METHODS
        from geo.study import SHENZHEN_OSM, SHENZHEN_POIS, run_study

        check_choice(method, field="--method", choices=METHODS)
        root = (data_dir or default_data_dir()).expanduser()
        osm, pois_path = root / SHENZHEN_OSM, root / SHENZHEN_POIS
        for path in (osm, pois_path):
            if not path.is_file():
                raise fail(f"real sample missing: {path} (set YIZHAN_DATA_DIR or --data-dir)", 3)
        from rich.console import Console
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        console = Console(stderr=json_out)
        started = time.perf_counter()
        crs_note = stations_crs or "坐标系按文件"
        own = f"现有站点：{stations.name}（{crs_note}）。" if stations is not None else BANK_NOTE
        notes = [own, DEMAND_NOTE]

        columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=False) as bar:
            task = bar.add_task("networks", total=9)

            def step(label: str) -> None:
                bar.update(task, description=label)

            inputs = _sample_inputs(osm, pois_path, stations, stations_crs, step=step,
                                    advance=lambda: bar.advance(task))
            report = inputs["report"]

            def study_step(label: str) -> None:
                step(label)
                bar.advance(task)

            result = run_study(
                inputs["networks"], inputs["stations"], inputs["demand"], inputs["candidates"],
                minutes=minutes, add=add, areas=inputs["areas"], method=method, progress=study_step,
            )

            step("输出 writing out/demo")
            written = write_report(
                result, out, place=PLACE, title=None, notes=notes,
                map_title=f"南山区工会驿站{minutes:g}分钟服务圈", lang=command_lang(lang, fallback="zh"),
            )
            bar.update(task, completed=9, description="完成 done")

        elapsed = time.perf_counter() - started
        head = result.headline()
        head["rejected_rows"] = len(report.errors)
        head["seconds"] = round(elapsed, 2)
        head["files"] = [str(p) for p in written]
        if json_out:
            say(json.dumps(head, ensure_ascii=False, indent=2, default=str))
            return
        _print_summary(console, result, len(report.errors), written, elapsed, notes)


def _sample_inputs(osm: Path, pois_path: Path, stations: Path | None, stations_crs: str | None, *,
                   step: Callable[[str], None], advance: Callable[[], None]) -> dict[str, Any]:
    """Networks, townships, stations (not stored), demand and candidates of the bundled sample."""
    from geo.areas import areas_from_osm
    from geo.catalog import mode_codes
    from geo.demand import combine_demand, demand_from_network, demand_from_pois
    from geo.network import load_network
    from geo.siting import candidates_from_pois
    from geo.stations import read_station_file, report_from_frame
    from geo.study import SHENZHEN_CORE_BBOX

    step(f"路网 networks ({', '.join(mode_codes())})")
    networks = {m: load_network(osm, mode=m, clip=SHENZHEN_CORE_BBOX) for m in mode_codes()}
    advance()
    step("街道边界 townships")
    areas = areas_from_osm(osm, admin_level=8, clip_bbox=SHENZHEN_CORE_BBOX)
    advance()
    step("站点 stations (not stored)")
    pois = gpd.read_file(pois_path)
    if stations is None:
        report = report_from_frame(bank_station_rows(pois), crs="wgs84", source=BANK_SOURCE)
    else:
        report = read_station_file(stations, crs=stations_crs, source=stations.stem)
    station_frame = report.frame[report.frame["status"] == "open"].reset_index(drop=True)
    advance()
    step("需求 demand (POIs + street length)")
    demand = combine_demand(demand_from_pois(pois), demand_from_network(networks["walk"]))
    inside = demand.geometry.intersects(shapely.box(*SHENZHEN_CORE_BBOX)).to_numpy()
    demand = demand[inside].reset_index(drop=True)
    candidates = candidates_from_pois(pois)
    candidates = candidates[candidates["host_type"] != "bank"].reset_index(drop=True)
    advance()
    return {"networks": networks, "areas": areas, "report": report, "stations": station_frame,
            "demand": demand, "candidates": candidates}


def _print_summary(console: Console, result: Any, rejected: int, written: list[Path], elapsed: float,
                   notes: list[str]) -> None:
    from rich.table import Table

    console.print()
    for note in notes:
        console.print(f"[dim]{note}[/dim]")
    console.print(
        f"站点 stations: {len(result.stations)} open, {rejected} row(s) rejected; not stored "
        "(yizhan stations import FILE stores a list in the registry)"
    )
    table = Table(title=f"{result.minutes:g} 分钟服务圈 / {result.minutes:g}-minute service circle")
    for col in ("mode 方式", "stations 站点", "demand 需求", "covered 覆盖率", "median min", "p95 min",
                "gaps 空白"):
        table.add_column(col, justify="right")
    for mode, ms in result.modes.items():
        s = ms.coverage.summary
        table.add_row(mode, str(s.stations), f"{s.demand_total:,.0f}", f"{s.covered_share:.1%}",
                      f"{s.median_minutes:.1f}", f"{s.p95_minutes:.1f}", str(len(ms.gaps)))
    console.print(table)
    sr = result.siting
    assert sr is not None  # the demo always sites
    plan = Table(title=f"新增站点建议 / proposed sites ({sr.method}, {sr.status}, gap {sr.gap:.2g})")
    for col in ("order", "host", "type", "gain", "cumulative share"):
        plan.add_column(col)
    for rec in sr.selected.itertuples(index=False):
        plan.add_row(str(rec.order), str(rec.name), str(rec.host_type), f"{rec.gain:.1f}",
                     f"{rec.cumulative_share:.1%}")
    console.print(plan)
    console.print(f"covered share ({result.siting_mode}) {sr.share_before:.1%} → {sr.share_after:.1%}")
    console.print("\nfiles:")
    for path in written:
        console.print(f"  {path}")
    console.print(
        f"\nopen the maps: xdg-open {written[0]}  (or any browser; assets are inlined)\n"
        "start the API: .venv/bin/yizhan serve   → http://127.0.0.1:8000/docs , /maps/finder\n"
        "(the demo stores nothing: yizhan stations import FILE puts a list in the registry; "
        "your own area: yizhan report --help)\n"
        f"done in {elapsed:.1f} s ({dt.datetime.now():%Y-%m-%d %H:%M})"
    )

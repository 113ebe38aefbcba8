"""The files of a region result folder, written all at once (temporary folder, then renamed).

``OUT/points.parquet``  one row per demand point: ``id``, ``area_code``, ``minutes``, ``station_id``,
                        ``weight`` (Parquet; no geometry)
``OUT/areas.csv``       ``area_code, name, prefecture_code, province_code, demand, covered,
                        covered_share, p95_minutes`` (UTF-8)
``OUT/areas.parquet``   the same with the area polygons (GeoParquet, EPSG:4326), for maps
``OUT/summary.json``    totals, ``outside_areas``, ``rollups`` per province / prefecture / county
``OUT/parts/``          each area task's output, named by its content hash (reused by the next run)
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from geo.errors import InputError, NotFoundError
from geo.region.coverage import AREA_COLUMNS, POINT_COLUMNS, RegionResult

__all__ = ["read_region_result", "write_region_result"]


def write_region_result(result: RegionResult, out: str | Path) -> Path:
    """Write ``result`` into the folder ``out`` (replaced as a whole; nothing half written)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        points = result.points[list(POINT_COLUMNS)].copy()
        for col in ("id", "area_code", "station_id"):
            points[col] = points[col].astype("string")
        points.to_parquet(tmp / "points.parquet", index=False)
        result.areas[list(AREA_COLUMNS)].to_csv(tmp / "areas.csv", index=False, encoding="utf-8")
        result.areas.to_parquet(tmp / "areas.parquet", index=False)
        (tmp / "summary.json").write_text(
            json.dumps(result.summary, ensure_ascii=False, indent=1), encoding="utf-8"
        )
        (tmp / "parts").mkdir()
        for code, (key, part) in result.parts.items():
            part.to_parquet(tmp / "parts" / f"{code}-{key[:20]}.parquet", index=False)
        _swap(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def _swap(new: Path, out: Path) -> None:
    """Put folder ``new`` at ``out``; a previous ``out`` is moved aside first and removed after."""
    old = None
    if out.exists():
        if not (out / "summary.json").is_file() and any(out.iterdir()):
            raise InputError(
                f"{out} exists and is not a region result folder; choose another --out", field="out"
            )
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
        os.replace(out, old / "result")
    os.replace(new, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def read_region_result(folder: str | Path) -> tuple[gpd.GeoDataFrame, dict[str, Any]]:
    """The areas (GeoDataFrame with polygons, EPSG:4326) and the summary of a result folder."""
    folder = Path(folder)
    if not (folder / "summary.json").is_file() or not (folder / "areas.parquet").is_file():
        raise NotFoundError(
            f"{folder} is not a region result folder (no summary.json / areas.parquet)", field="result"
        )
    areas = gpd.read_parquet(folder / "areas.parquet")
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    return areas, summary


def read_points(folder: str | Path) -> pd.DataFrame:
    """``points.parquet`` of a result folder."""
    return pd.read_parquet(Path(folder) / "points.parquet")

"""What a plan changes in the station map: the stations of plan ``b`` against those of plan ``a``
(e.g. a scenario against its base), by ``station_id``.

- ``kept``: open in both, at the same point;
- ``added``: open in ``b`` and not open in ``a`` (new, or reopened);
- ``closed``: open in ``a`` and not open in ``b`` (closed, or gone);
- ``relocated``: open in both at different points (``geometry`` the new point, ``old_lon``/``old_lat``
  the old one).

All frames are canonical stations frames, EPSG:4326; the inputs are not mutated.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.coverage import select_stations


@dataclass(frozen=True, eq=False)
class StationChanges:
    """The station layers of a plan's difference (see the module docstring)."""

    kept: gpd.GeoDataFrame
    added: gpd.GeoDataFrame
    closed: gpd.GeoDataFrame
    relocated: gpd.GeoDataFrame

    def counts(self) -> dict[str, int]:
        """How many stations each layer holds."""
        return {
            "kept": len(self.kept),
            "added": len(self.added),
            "closed": len(self.closed),
            "relocated": len(self.relocated),
        }


def _open(stations: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    frame = select_stations(stations, open_only=True)
    frame = frame.assign(station_id=frame["station_id"].astype(str))
    return frame.drop_duplicates("station_id").set_index("station_id", drop=False)


def station_changes(a: gpd.GeoDataFrame, b: gpd.GeoDataFrame) -> StationChanges:
    """The stations of plan ``b`` against plan ``a`` (both canonical frames with ``station_id``)."""
    before, after = _open(a), _open(b)
    both = before.index.intersection(after.index, sort=False)
    old_xy = (
        np.column_stack([before.loc[both].geometry.x, before.loc[both].geometry.y])
        if len(both)
        else np.zeros((0, 2))
    )
    new_xy = (
        np.column_stack([after.loc[both].geometry.x, after.loc[both].geometry.y])
        if len(both)
        else np.zeros((0, 2))
    )
    moved = both[(old_xy != new_xy).any(axis=1)] if len(both) else both
    relocated = after.loc[moved].copy()
    relocated["old_lon"] = before.loc[moved].geometry.x.to_numpy()
    relocated["old_lat"] = before.loc[moved].geometry.y.to_numpy()
    return StationChanges(
        kept=_plain(after.loc[both.difference(moved, sort=False)]),
        added=_plain(after.loc[after.index.difference(before.index, sort=False)]),
        closed=_plain(before.loc[before.index.difference(after.index, sort=False)]),
        relocated=_plain(relocated),
    )


def _plain(frame: pd.DataFrame) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(frame.reset_index(drop=True), geometry="geometry", crs="EPSG:4326")

"""Queries and changes of the PostGIS store, one module per table, re-exported here so that callers
keep writing ``from geo.db import repository`` and ``repository.get_station(session, ...)``.

- :mod:`geo.db.stations`: station queries and single-station writes;
- :mod:`geo.db.station_import`: the all-or-nothing file import;
- :mod:`geo.db.areas`: administrative areas;
- :mod:`geo.db.audit`: the audit trail and the registry version.

Every function takes a SQLAlchemy :class:`Session` first. All geometries are WGS-84 (EPSG:4326).
"""

from __future__ import annotations

from geo.db.areas import areas_frame, assign_areas, get_area, list_areas, upsert_areas
from geo.db.audit import registry_summary, registry_version, station_changes
from geo.db.common import BBox
from geo.db.station_import import ImportSummary, import_stations
from geo.db.stations import (
    UNCHANGED_METERS,
    close_station,
    create_station,
    delete_station,
    get_station,
    list_stations,
    station_rows,
    station_versions,
    stations_frame,
    update_station,
)

__all__ = [
    "UNCHANGED_METERS", "BBox", "ImportSummary", "areas_frame", "assign_areas", "close_station",
    "create_station", "delete_station", "get_area", "get_station", "import_stations", "list_areas",
    "list_stations", "registry_summary", "registry_version", "station_changes", "station_rows",
    "station_versions", "stations_frame", "update_station", "upsert_areas",
]

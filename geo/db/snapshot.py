"""Read the whole station registry over a plain DB-API connection (no ORM, no GeoAlchemy2).

A command-line run that takes its stations from the store (``yizhan coverage --stations db``) reads
the registry once and never writes. Importing SQLAlchemy's ORM and GeoAlchemy2 for that one SELECT
costs about 0.6 s on the project's 2-core machine, far more than the coverage pass itself (34 ms on
the Shenzhen sample), so this module sends the same statement as
:func:`geo.db.repository.stations_frame` (without filters) straight through psycopg2 and builds the
same frame. :data:`STATION_COLUMNS` is the one list of columns both use; the tests check that the
two readers return equal frames and that the list matches the ORM table.

Writes, filtered reads and the API keep going through SQLAlchemy (:mod:`geo.db.repository`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import geopandas as gpd

from geo.config import database_url, redact_url
from geo.errors import StoreUnavailableError, first_line

logger = logging.getLogger(__name__)

#: the columns of ``stations`` read for a stations frame, in order (the point is read as lon/lat)
STATION_COLUMNS: tuple[str, ...] = (
    "id", "source", "external_id", "name", "kind", "status", "address", "county_name", "county_code",
    "township_name", "township_code", "community_name", "community_code", "amenities", "opening_hours",
    "host_org", "phone", "seats", "floor_area_m2", "source_crs", "created_at", "updated_at", "version",
)

_SELECT = (
    f"SELECT {', '.join(STATION_COLUMNS)}, ST_X(geom) AS lon, ST_Y(geom) AS lat "
    "FROM stations ORDER BY id"
)


def station_records(rows: Sequence[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Rows of ``STATION_COLUMNS + (lon, lat)`` as station dicts (``id`` renamed ``station_id``)."""
    names = (*STATION_COLUMNS, "lon", "lat")
    out = []
    for row in rows:
        rec = dict(zip(names, row, strict=True))
        rec["station_id"] = rec.pop("id")
        rec["amenities"] = list(rec.get("amenities") or [])
        out.append(rec)
    return out


def stations_frame_dbapi(conn: Any) -> gpd.GeoDataFrame:
    """Every station of the registry as a canonical stations frame (EPSG:4326), ordered by id.

    Parameters
    ----------
    conn
        An open psycopg2 connection (or any DB-API connection to PostgreSQL with PostGIS). It is
        read in its current transaction, so uncommitted rows of that transaction are included; when
        the query fails, that transaction is left aborted (the caller rolls back or closes).

    Raises
    ------
    StoreUnavailableError
        If the database has no ``stations`` table (not migrated) or the query fails.
    """
    import psycopg2

    from geo.stations import records_to_frame

    try:
        with conn.cursor() as cur:
            cur.execute(_SELECT)
            rows = cur.fetchall()
    except psycopg2.errors.UndefinedTable as exc:
        raise StoreUnavailableError(
            "the PostGIS store has no stations table: run `yizhan db upgrade` first"
        ) from exc
    except psycopg2.Error as exc:
        raise StoreUnavailableError(f"the PostGIS store failed: {first_line(exc)}") from exc
    records = station_records(rows)
    logger.info("read %d stations from the registry", len(records))
    return records_to_frame(records, id_field="station_id")  # (the empty frame when none)


def read_stations(url: str | None = None) -> gpd.GeoDataFrame:
    """Every station of the registry at ``url`` (default: the configured store), WGS-84 frame.

    Opens one read-only connection, reads, and closes it.

    Raises
    ------
    StoreUnavailableError
        If the server cannot be reached, the database does not exist or is not migrated.
    """
    import psycopg2

    plain = url or database_url()
    dsn = plain.replace("postgresql+psycopg2://", "postgresql://", 1)
    try:
        conn = psycopg2.connect(dsn)
    except psycopg2.OperationalError as exc:
        raise StoreUnavailableError(
            f"cannot connect to the PostGIS store at {redact_url(plain)}: {first_line(exc)}"
        ) from exc
    try:
        conn.set_session(readonly=True)
        return stations_frame_dbapi(conn)
    finally:
        conn.close()

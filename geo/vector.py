"""Vector files (GeoJSON, Shapefile, GeoPackage, KML, FlatGeobuf ...) read through GDAL: one home for
the wording of an unreadable file and for GDAL's own warnings.

GDAL's messages name its drivers and options (``prefixing the file path with '<DRIVER>:'``), which
tell a planner nothing; :func:`read_vector_file` says what the file should have been instead. GDAL's
warnings about data it has read anyway (repeated feature ids made unique, say) are logged as one
line each, not printed with a source line from pyogrio.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import geopandas as gpd

from geo.errors import InputError, first_line

log = logging.getLogger(__name__)

__all__ = ["gdal_reason", "read_vector_file"]

#: GDAL's words for a file no driver recognises
_UNRECOGNISED = ("not recognized as being in a supported file format",
                 "not recognized as a supported file format")


def gdal_reason(exc: BaseException) -> str:
    """Why GDAL could not read a file, in one line a planner can act on."""
    text = first_line(exc)
    if any(words in text for words in _UNRECOGNISED):
        return "not a vector format GDAL reads (GeoJSON, Shapefile, GeoPackage, KML, FlatGeobuf, ...)"
    return text


def read_vector_file(path: str | Path, *, what: str, field: str) -> gpd.GeoDataFrame:
    """Read a vector file as a GeoDataFrame in its own CRS.

    Parameters
    ----------
    path
        The file.
    what
        What the file should be, for the message (``"a boundary file"``, ``"a station file"``).
    field
        The field an :class:`~geo.errors.InputError` names.

    Raises
    ------
    InputError
        ``cannot read NAME as WHAT: REASON`` when GDAL cannot read it.
    """
    path = Path(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            frame = gpd.read_file(path)
        except Exception as exc:  # pyogrio raises its own DataSourceError family and others
            raise InputError(f"cannot read {path.name} as {what}: {gdal_reason(exc)}", field=field) from None
    for warning in caught:
        log.info("%s: %s", path.name, first_line(Exception(str(warning.message))))
    return frame

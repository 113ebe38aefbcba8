"""yizhan core: coordinates, stations, street networks, coverage, gaps, siting and the PostGIS store.

Everything in ``geo`` is pure Python over GeoDataFrames and numpy arrays. All geometries are
WGS-84 (EPSG:4326) unless a function says otherwise; the source CRS of imported coordinates
(``wgs84``, ``gcj02`` or ``bd09``) is kept beside them.
"""

__version__ = "0.1.0"

"""PostGIS store of the station registry (SQLAlchemy 2 + GeoAlchemy2; schema by Alembic migrations only)."""

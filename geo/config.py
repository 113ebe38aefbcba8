"""Configuration read from the environment (no I/O at import time).

``YIZHAN_DATABASE_URL``  plain ``postgresql://user@host:port/db`` URL
                         (default ``postgresql://postgres@127.0.0.1:5432/yizhan``)
``YIZHAN_DATA_DIR``      real data directory (default ``../shared/data/raw`` beside the project root)
``YIZHAN_CACHE_DIR``     network cache directory (default ``<project root>/.cache/networks`` in a checkout,
                         ``~/.cache/yizhan/networks`` when installed)

Run from a checkout (or an editable install) the project root is the checkout; installed from a wheel
there is none, and :func:`in_checkout` says so.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/yizhan"


def in_checkout() -> bool:
    """Whether yizhan runs from a source checkout (``PROJECT_ROOT`` holds ``pyproject.toml``)."""
    return (PROJECT_ROOT / "pyproject.toml").is_file()


def database_url() -> str:
    """Return the configured database URL (plain ``postgresql://`` form)."""
    return os.environ.get("YIZHAN_DATABASE_URL", DEFAULT_DATABASE_URL)


def data_dir() -> Path:
    """Return the directory holding the real raw data (OSM extracts, POIs)."""
    env = os.environ.get("YIZHAN_DATA_DIR")
    return Path(env).expanduser().resolve() if env else (PROJECT_ROOT.parent / "shared" / "data" / "raw")


def cache_dir() -> Path:
    """Return the directory for cached compact networks."""
    env = os.environ.get("YIZHAN_CACHE_DIR")
    if env:
        return Path(env).expanduser().resolve()
    if in_checkout():
        return PROJECT_ROOT / ".cache" / "networks"
    return Path.home() / ".cache" / "yizhan" / "networks"


def sqlalchemy_url(url: str | None = None) -> str:
    """Turn a plain ``postgresql://`` URL into the SQLAlchemy psycopg2 form."""
    url = url or database_url()
    for prefix in ("postgresql+psycopg2://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg2://" + url[len(prefix):]
    raise ValueError(f"YIZHAN_DATABASE_URL must start with postgresql://, got {url!r}")


def redact_url(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``, for messages and logs."""
    if "@" in url and ":" in url.split("@", 1)[0].split("//", 1)[-1]:
        scheme, rest = url.split("//", 1)
        user = rest.split("@", 1)[0].split(":", 1)[0]
        return f"{scheme}//{user}:***@{rest.split('@', 1)[1]}"
    return url

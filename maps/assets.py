"""Where the maps' JavaScript and CSS come from: yizhan serves them itself.

``scripts/fetch_map_assets.sh`` installs Leaflet and its plugins from the npm registry into
:data:`VENDOR_DIR` (gitignored). The API mounts :data:`STATIC_DIR` at ``/static``.

Three modes:

``"local"``   ``<script src="/static/vendor/...">`` URLs served by the yizhan API (default).
``"inline"``  every script and stylesheet embedded in the page (fonts and images as ``data:`` URIs):
              a self-contained HTML file for the CLI and notebooks. No request leaves the machine
              except map tiles.
``"cdn"``     folium's own CDN links, unchanged.
"""

from __future__ import annotations

import base64
import mimetypes
import posixpath
import re
from functools import cache
from pathlib import Path
from typing import Literal

from geo.errors import InputError, NotFoundError

AssetMode = Literal["local", "inline", "cdn"]
ASSET_MODES: tuple[str, ...] = ("local", "inline", "cdn")

#: ``maps/static``: mounted by the API at ``/static``
STATIC_DIR: Path = Path(__file__).resolve().parent / "static"
#: ``maps/static/vendor``: third-party files fetched by ``scripts/fetch_map_assets.sh``
VENDOR_DIR: Path = STATIC_DIR / "vendor"
#: URL prefix the API serves :data:`STATIC_DIR` under
STATIC_URL = "/static"

#: file name in a CDN URL -> path below ``maps/static`` (vendored or our own)
_BY_FILENAME: dict[str, str] = {
    "leaflet.js": "vendor/leaflet/leaflet.js",
    "leaflet.css": "vendor/leaflet/leaflet.css",
    "jquery-3.7.1.min.js": "vendor/jquery/jquery.min.js",
    "jquery.min.js": "vendor/jquery/jquery.min.js",
    "bootstrap.bundle.min.js": "vendor/bootstrap/bootstrap.bundle.min.js",
    "bootstrap.min.css": "vendor/bootstrap/bootstrap.min.css",
    "all.min.css": "vendor/fontawesome/css/all.min.css",
    "leaflet.awesome-markers.js": "vendor/awesome-markers/leaflet.awesome-markers.js",
    "leaflet.awesome-markers.css": "vendor/awesome-markers/leaflet.awesome-markers.css",
    "leaflet.awesome.rotate.min.css": "css/leaflet.awesome.rotate.css",
    "leaflet.markercluster.js": "vendor/markercluster/leaflet.markercluster.js",
    "MarkerCluster.css": "vendor/markercluster/MarkerCluster.css",
    "MarkerCluster.Default.css": "vendor/markercluster/MarkerCluster.Default.css",
    "Control.FullScreen.min.js": "vendor/fullscreen/Control.FullScreen.js",
    "Control.FullScreen.js": "vendor/fullscreen/Control.FullScreen.js",
    "Control.FullScreen.css": "vendor/fullscreen/Control.FullScreen.css",
}
#: links folium adds that nothing of ours uses (Bootstrap 3 glyphicons): dropped outside ``cdn`` mode
_DROPPED: frozenset[str] = frozenset({"bootstrap-glyphicons.css"})


def check_mode(assets: str) -> str:
    """Return ``assets`` if it is a known mode, else raise :class:`geo.errors.InputError`."""
    if assets not in ASSET_MODES:
        message = f"unknown assets mode {assets!r}; use one of {', '.join(ASSET_MODES)}"
        raise InputError(message, field="assets")
    return assets


def static_path(url: str) -> str | None:
    """Map a CDN URL (or a ``/static/...`` URL) to its path below ``maps/static``.

    Returns ``None`` for links that are dropped; raises :class:`geo.errors.InputError` for a URL
    yizhan does not vendor (add it to ``scripts/fetch_map_assets.sh`` and the table here).
    """
    if url.startswith(STATIC_URL + "/"):
        return url[len(STATIC_URL) + 1 :]
    name = posixpath.basename(url.split("?", 1)[0])
    if name in _DROPPED:
        return None
    path = _BY_FILENAME.get(name)
    if path is None:
        message = (
            f"map asset {url!r} is not vendored; add it to scripts/fetch_map_assets.sh and maps/assets.py"
        )
        raise InputError(message, field="assets")
    return path


def asset_file(path: str) -> Path:
    """Return the file for a path below ``maps/static``; raise NotFoundError when it is missing."""
    file = STATIC_DIR / path
    if not file.is_file():
        hint = " (run scripts/fetch_map_assets.sh)" if path.startswith("vendor/") else ""
        raise NotFoundError(f"map asset file {file} is missing{hint}", field="assets")
    return file


def asset_url(path: str, *, prefix: str = STATIC_URL) -> str:
    """URL of a path below ``maps/static`` as served by the API."""
    return f"{prefix.rstrip('/')}/{path}"


_CSS_URL = re.compile(r"""url\(\s*(['"]?)([^'")]+)\1\s*\)""")


def _data_uri(file: Path) -> str:
    mime = mimetypes.guess_type(file.name)[0]
    if file.suffix == ".woff2":
        mime = "font/woff2"
    elif file.suffix == ".svg":
        mime = "image/svg+xml"
    payload = base64.b64encode(file.read_bytes()).decode("ascii")
    return f"data:{mime or 'application/octet-stream'};base64,{payload}"


@cache
def inline_css(path: str) -> str:
    """Return a stylesheet with every relative ``url(...)`` replaced by a ``data:`` URI.

    Font Awesome ships each font as woff2 and ttf: the ttf fallbacks are dropped (every browser
    yizhan targets reads woff2), which keeps pages about 400 kB smaller.
    """
    file = asset_file(path)
    text = file.read_text(encoding="utf-8")
    if "fontawesome" in path:
        text = re.sub(r""",\s*url\([^)]*\.ttf\)\s*format\(["']truetype["']\)""", "", text)

    def repl(match: re.Match[str]) -> str:
        target = match.group(2)
        if target.startswith(("data:", "#", "http:", "https:")):
            return match.group(0)
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
        return f'url("{_data_uri(asset_file(resolved))}")'

    return _CSS_URL.sub(repl, text)


@cache
def inline_js(path: str) -> str:
    """Return a script's text, safe to put between ``<script>`` tags."""
    return asset_file(path).read_text(encoding="utf-8").replace("</script", "<\\/script")


def script_tag(path: str, assets: str, *, prefix: str = STATIC_URL) -> str:
    """``<script>`` element for a path below ``maps/static`` in the given mode (``cdn`` acts as local)."""
    if assets == "inline":
        return f"<script>{inline_js(path)}</script>"
    return f'<script src="{asset_url(path, prefix=prefix)}"></script>'


def style_tag(path: str, assets: str, *, prefix: str = STATIC_URL) -> str:
    """Stylesheet element for a path below ``maps/static`` in the given mode (``cdn`` acts as local)."""
    if assets == "inline":
        return f"<style>{inline_css(path)}</style>"
    return f'<link rel="stylesheet" href="{asset_url(path, prefix=prefix)}"/>'

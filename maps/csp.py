"""Content-Security-Policy of a served HTML page, computed from the page itself.

Scripts may run only from the page's own origin, from the origins of the ``<script src>`` it names,
and as the inline ``<script>`` blocks it holds (each allowed by its SHA-256 hash). Markup injected
through data (an ``onerror`` attribute, a ``<script>`` added by ``innerHTML``) matches none of them
and does not run, even if a value ever reached a page unescaped. Styles may be inline (Leaflet and
folium position everything with them); images may come from any HTTPS tile server.
"""

from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import urlsplit

_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc\s*=)[^>]*>(.*?)</script\s*>", re.S | re.I)
_SCRIPT_SRC = re.compile(r"<script[^>]*\bsrc\s*=\s*[\"']([^\"']+)[\"']", re.I)
_STYLE_HREF = re.compile(r"<link[^>]*\bhref\s*=\s*[\"']([^\"']+)[\"'][^>]*>", re.I)


def _origins(urls: list[str]) -> list[str]:
    out: list[str] = []
    for url in urls:
        parts = urlsplit(url if not url.startswith("//") else "https:" + url)
        if parts.scheme in ("http", "https") and parts.netloc:
            origin = f"{parts.scheme}://{parts.netloc}"
            if origin not in out:
                out.append(origin)
    return out


def script_hashes(html: str) -> list[str]:
    """``'sha256-…'`` source expressions of every inline ``<script>`` of a page, in page order."""
    out: list[str] = []
    for body in _INLINE_SCRIPT.findall(html):
        digest = base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode()
        if f"'sha256-{digest}'" not in out:
            out.append(f"'sha256-{digest}'")
    return out


def content_security_policy(html: str) -> str:
    """The ``Content-Security-Policy`` header value for ``html`` (see the module docstring)."""
    scripts = " ".join(["'self'", *_origins(_SCRIPT_SRC.findall(html)), *script_hashes(html)])
    styles = " ".join(["'self'", "'unsafe-inline'", *_origins(_STYLE_HREF.findall(html))])
    fonts = " ".join(["'self'", "data:", *_origins(_STYLE_HREF.findall(html))])
    return (
        f"default-src 'self'; script-src {scripts}; style-src {styles}; font-src {fonts}; "
        "img-src 'self' data: blob: https:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'self'"
    )

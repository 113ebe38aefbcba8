"""Security headers of served HTML pages (issue #15): every ``text/html`` response carries a
Content-Security-Policy computed from its own body (:func:`maps.csp.content_security_policy`), plus
``X-Content-Type-Options: nosniff``. Other responses (JSON, GeoJSON, static files) pass untouched,
without buffering."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HtmlSecurityHeaders:
    """ASGI middleware adding the headers above to HTML responses."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        body: list[bytes] = []

        async def wrapped(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                if any(k == b"content-type" and v.startswith(b"text/html") for k, v in message["headers"]):
                    start = message  # held until the whole body is known
                    return
                await send(message)
            elif start is not None and message["type"] == "http.response.body":
                body.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                await _send_html(start, b"".join(body), send)
            else:
                await send(message)

        await self.app(scope, receive, wrapped)


async def _send_html(start: Message, body: bytes, send: Send) -> None:
    from maps.csp import content_security_policy

    headers = MutableHeaders(raw=start["headers"])
    headers["Content-Security-Policy"] = content_security_policy(body.decode("utf-8", "replace"))
    headers["X-Content-Type-Options"] = "nosniff"
    await send(start)
    await send({"type": "http.response.body", "body": body, "more_body": False})

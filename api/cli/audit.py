"""``yizhan audit``: compare the registry with map providers' POIs (上图)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Audits of the registry (上图: is every station findable on Amap/Baidu?).",
                  no_args_is_help=True)

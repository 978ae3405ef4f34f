"""The HTML shell of each page; the script fills it from the JSON API."""

from __future__ import annotations

import html
import json
from typing import Any


def page(title: str, kind: str, info: dict[str, Any]) -> str:
    """A page: the header, an empty main area and the dashboard's script and styles."""
    # The data attribute carries JSON; escaping keeps any study name inert.
    data = html.escape(json.dumps({"page": kind, **info}), quote=True)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} · tunelab dashboard</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/dashboard.css">
</head><body>
<header><a class="brand" href="/">tunelab dashboard</a><nav><a href="/">Studies</a>
<a href="/compare">Compare</a></nav>
<label class="key">API key <input id="api-key" type="password" autocomplete="off"></label>
</header>
<main id="app" data-info="{data}"><h1>{html.escape(title)}</h1></main>
<script src="/static/dashboard.js"></script>
</body></html>
"""

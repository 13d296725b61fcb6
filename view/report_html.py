"""View: renders recaps as one self-contained HTML report (dev-time CLI).

The page (`report.html` beside this module) carries its CSS and JavaScript inline and the
recaps as a JSON island; its script builds a waterfall per invocation (bars placed by
`offsetMs`/`durationMs`, like a browser's network panel), the per-host summary and the filters.
Each invocation's findings are listed above its waterfall and their calls marked on it;
hovering or selecting a finding highlights its calls and shows its message. Findings across
invocations are grouped by kind and endpoint as `httprecap view --findings` groups them.
It loads nothing from the network, so it opens from a file, an e-mail or a CI artifact.
The filters and the selected finding also live in the URL fragment
(`#errors=1&host=...&q=...&finding=REQUEST_ID:INDEX`), so a view can be linked.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from importlib import resources
from typing import Any

from httprecap import __version__
from httprecap.view.findings import group_findings
from httprecap.view.host_stats import summarize
from httprecap.view.read import Recap

TEMPLATE = "report.html"


def render_html(recaps: Sequence[Recap], title: str = "httprecap report") -> str:
    """The whole page for `recaps`: pure function of its arguments."""
    overview = summarize(recaps)
    data = {
        "title": title,
        "version": __version__,
        "recaps": list(recaps),
        "summary": {**dataclasses.asdict(overview),
                    "hosts": [{**dataclasses.asdict(host), "errorRate": host.error_rate}
                              for host in overview.hosts]},
        "findings": [dataclasses.asdict(group) for group in group_findings(recaps)],
    }
    page = resources.files("httprecap.view").joinpath(TEMPLATE).read_text(encoding="utf-8")
    return (page.replace("{{TITLE}}", _escape_html(title))
                .replace("{{DATA}}", embed_json(data)))


def embed_json(data: Any) -> str:
    """JSON that is safe inside a <script> element: nothing in it can close the element."""
    text = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
                .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def _escape_html(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                .replace('"', "&quot;"))

"""The dependency tree (`endpoints[].depends_on`) with what is down: `/api/v1/dependencies`, the
`dependencies` part of `/api/v1/endpoints/{name}` and the consumer page's tree.

An endpoint's state: `down` (its endpoint-down alert fires), `failing` (its latest probe failed,
below the alert threshold), `up`, or `unknown` (not probed yet). `root_cause`: the down dependency
its own alert is covered by (slowatch/alerting/dependencies.py), else null.
"""

from __future__ import annotations

from html import escape
from typing import Any

from aiohttp import web

from slowatch.config.dependencies import closure, dependency_map, dependents_map
from slowatch.web.params import Query
from slowatch.web.view import VIEW, DaemonView

MAX_TREE_NODES = 200
"""The most endpoints one consumer page tree shows (a wide shared dependency is shown once per path)."""


class DependencyView:
    """The graph and each endpoint's state, computed once per request from the daemon's view."""

    def __init__(self, view: DaemonView) -> None:
        config = view.config
        self.deps = dependency_map(config)
        self.below = dependents_map(self.deps)
        firing: dict[str, dict[str, object]] = {}
        for a in view.alerts_view():
            if a.get("kind") == "endpoint_down" and isinstance(a.get("endpoint"), str):
                firing[str(a["endpoint"])] = a
        self.firing = firing
        self.states: dict[str, str] = {}
        for ep in config.endpoints:
            latest = view.latest.get(ep.name)
            if ep.name in firing:
                self.states[ep.name] = "down"
            elif latest is None:
                self.states[ep.name] = "unknown"
            else:
                self.states[ep.name] = "up" if latest.ok else "failing"

    def root_cause(self, name: str) -> str | None:
        cause = self.firing.get(name, {}).get("root_cause")
        return cause if isinstance(cause, str) else None

    def endpoint(self, name: str) -> dict[str, Any]:
        return {
            "state": self.states.get(name, "unknown"),
            "depends_on": list(self.deps.get(name, ())),
            "dependents": list(self.below.get(name, ())),
            "upstream": closure(name, self.deps),
            "downstream": closure(name, self.below),
            "root_cause": self.root_cause(name),
        }

    def outages(self) -> list[dict[str, Any]]:
        """Down endpoints that are not covered by another: each with the dependents it takes down."""
        out = []
        for name in self.firing:
            if self.root_cause(name) is None and name in self.below:
                affected = [d for d in closure(name, self.below) if self.states.get(d) in ("down", "failing")]
                out.append({"root": name, "dependents": closure(name, self.below), "affected": affected})
        return out

    def tree_html(self, names: list[str]) -> str:
        """Nested lists: each of `names` with what it depends on, recursively, states marked."""
        budget = [MAX_TREE_NODES]

        def node(name: str, path: tuple[str, ...]) -> str:
            budget[0] -= 1
            state = self.states.get(name, "unknown")
            cause = self.root_cause(name)
            note = f" <span class='muted'>(because {escape(cause)} is down)</span>" if cause else ""
            children = [c for c in self.deps.get(name, ()) if c not in path and budget[0] > 0]
            inner = "".join(node(c, (*path, name)) for c in children)
            sub = f"<ul>{inner}</ul>" if inner else ""
            return f"<li><span class='dep dep-{state}'>{escape(name)}</span> {state}{note}{sub}</li>"

        roots = [n for n in names if n in self.deps]
        if not roots:
            return ""
        items = "".join(node(n, ()) for n in roots if budget[0] > 0)
        return (
            "<h2>Dependencies</h2><div class='card deps'><div class='small muted'>what its endpoints depend on "
            f"(config <code>depends_on</code>)</div><ul class='tree'>{items}</ul></div>"
        )


TREE_STYLE = (
    ".tree,.tree ul{list-style:none;padding-left:1.1rem;margin:.2rem 0}.tree{padding-left:0}"
    ".dep{font-weight:600}.dep-down{color:#cf222e}.dep-failing{color:#bf8700}.dep-up{color:#1a7f37}"
    ".dep-unknown{color:#6e7781}"
)


async def dependencies(request: web.Request) -> web.Response:
    Query(request)
    view = request.app[VIEW]
    graph = DependencyView(view)
    rows = [{"name": ep.name, **graph.endpoint(ep.name)} for ep in view.config.endpoints]
    return web.json_response({"endpoints": rows, "outages": graph.outages()})


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/api/v1/dependencies", dependencies)


__all__ = ["TREE_STYLE", "DependencyView", "add_routes"]

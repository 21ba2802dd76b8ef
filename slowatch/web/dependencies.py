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
from slowatch.config.schema import Config
from slowatch.config.seen import LastSeen
from slowatch.web.params import Query
from slowatch.web.view import VIEW, DaemonView

MAX_TREE_NODES = 200
"""The most endpoints one consumer page tree shows (a wide shared dependency is shown once per path)."""


class DependencyGraph:
    """`depends_on` resolved once per config (42 ms at 10,000 endpoints): rebuilt only after a reload."""

    def __init__(self) -> None:
        self._config = LastSeen()
        self.deps: dict[str, tuple[str, ...]] = {}
        self.below: dict[str, tuple[str, ...]] = {}

    def of(self, config: Config) -> DependencyGraph:
        if not self._config(config):
            self.deps = dependency_map(config)
            self.below = dependents_map(self.deps)
            self._config.seen(config)
        return self


GRAPH: web.AppKey[DependencyGraph] = web.AppKey("dependency_graph", DependencyGraph)


class DependencyView:
    """The graph and each endpoint's state, from the daemon's view at the time of one request."""

    def __init__(self, view: DaemonView, graph: DependencyGraph) -> None:
        graph = graph.of(view.config)
        self.deps, self.below = graph.deps, graph.below
        self._latest = view.latest
        firing: dict[str, dict[str, object]] = {}
        for a in view.alerts_view():
            if a.get("kind") == "endpoint_down" and isinstance(a.get("endpoint"), str):
                firing[str(a["endpoint"])] = a
        self.firing = firing

    def state(self, name: str) -> str:
        if name in self.firing:
            return "down"
        latest = self._latest.get(name)
        if latest is None:
            return "unknown"
        return "up" if latest.ok else "failing"

    def root_cause(self, name: str) -> str | None:
        cause = self.firing.get(name, {}).get("root_cause")
        return cause if isinstance(cause, str) else None

    def endpoint(self, name: str) -> dict[str, Any]:
        return {
            "state": self.state(name),
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
                affected = [d for d in closure(name, self.below) if self.state(d) in ("down", "failing")]
                out.append({"root": name, "dependents": closure(name, self.below), "affected": affected})
        return out

    def tree_html(self, names: list[str]) -> str:
        """Nested lists: each of `names` with what it depends on, recursively, states marked."""
        budget = [MAX_TREE_NODES]

        def node(name: str, path: tuple[str, ...]) -> str:
            budget[0] -= 1
            state = self.state(name)
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
    ".dep{font-weight:600}.dep-down{color:#cf222e}.dep-failing{color:#9a6700}.dep-up{color:#1a7f37}"
    ".dep-unknown{color:#6e7781}"
)


async def dependencies(request: web.Request) -> web.Response:
    Query(request)
    view = request.app[VIEW]
    graph = DependencyView(view, request.app[GRAPH])
    rows = [{"name": ep.name, **graph.endpoint(ep.name)} for ep in view.config.endpoints]
    return web.json_response({"endpoints": rows, "outages": graph.outages()})


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get("/api/v1/dependencies", dependencies)


__all__ = ["GRAPH", "TREE_STYLE", "DependencyGraph", "DependencyView", "add_routes"]

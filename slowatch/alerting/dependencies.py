"""Endpoint-down alerts along `depends_on`: one page for the root cause, not one per dependent.

While an endpoint's alert fires, the alerts of the endpoints depending on it (directly or through
others) are recorded but not notified: they are *covered*. The root's page names the dependents
and every consumer affected; its resolved message lists the dependents that failed meanwhile. The
dependents still record failures and burn budgets (nothing here touches the SLO path).

Ordering: a dependent may cross its failure threshold before its dependency does (they are probed
at different times). Then its alert is *held* while an ancestor is suspect (failing below its
threshold, or not probed yet), for at most `(failure_threshold + 1) x interval` of that ancestor:
long enough for the ancestor to prove itself down, short enough that a dependent failing on its
own is paged a few intervals late at worst. When the ancestor succeeds, held dependents are paged
at once; when it goes down, they are covered. Chains (A -> B -> C): the root is the deepest down
ancestor. A failure that started before its root was confirmed up again is still the root's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from slowatch.config.dependencies import closure, dependency_map, dependents_map
from slowatch.config.schema import Config


@dataclass(frozen=True, slots=True)
class Cover:
    """Why a dependent's alert is not notified now: `covered` by a down root, or `held` for a suspect one."""

    how: str  # covered | held
    root: str

    @property
    def reason(self) -> str:
        return f"dependency {self.root} is down" if self.how == "covered" else f"waiting for dependency {self.root}"


@dataclass(frozen=True, slots=True)
class DependencyPlan:
    """What Dependencies needs of a config; a pure function of it, safe to build in a thread."""

    ancestors: dict[str, tuple[str, ...]]
    dependents: dict[str, tuple[str, ...]]
    hold_for: dict[str, float]

    @classmethod
    def of(cls, config: Config) -> DependencyPlan:
        deps = dependency_map(config)
        alerting = {ep.name for ep in config.endpoints if ep.enabled and ep.alerts.enabled}
        below = dependents_map(deps)
        return cls(
            {n: tuple(a for a in closure(n, deps) if a in alerting) for n in deps},
            {n: tuple(closure(n, below)) for n in below},
            {ep.name: (ep.alerts.failure_threshold + 1) * ep.interval for ep in config.endpoints},
        )


class Dependencies:
    def __init__(self, config: Config, plan: DependencyPlan | None = None) -> None:
        self.affected: dict[str, dict[str, None]] = {}  # root -> dependents covered during its outage
        self.held: dict[str, float] = {}  # dependent -> when its hold started
        self.covered_by: dict[str, str] = {}  # dependent -> its root, while covered
        self._recovered: dict[str, float] = {}  # root -> when its alert resolved
        self.configure(config, plan)

    def configure(self, config: Config, plan: DependencyPlan | None = None) -> None:
        """Take `config`'s dependencies: `plan` (`DependencyPlan.of(config)`, worked out off the event loop:
        ~110 ms at 100,000 endpoints) or, without it, worked out here."""
        plan = plan if plan is not None else DependencyPlan.of(config)
        self._ancestors, self._dependents, self._hold_for = plan.ancestors, plan.dependents, plan.hold_for
        known = plan.hold_for  # (every endpoint of the config): what is kept of the others goes with them
        if any(n not in known for n in (*self._recovered, *self.affected, *self.held, *self.covered_by)):
            self._recovered = {n: t for n, t in self._recovered.items() if n in known}
            self.affected = {n: d for n, d in self.affected.items() if n in known}
        # A dependent stays covered or held only by what it still depends on: its root removed (or its depends_on
        # changed), the API and status page named a root it no longer has for the rest of its outage.
        ancestors = self._ancestors
        if any(r not in ancestors.get(n, ()) for n, r in self.covered_by.items()):
            self.covered_by = {n: r for n, r in self.covered_by.items() if r in ancestors.get(n, ())}
        if any(not ancestors.get(n) for n in self.held):
            self.held = {n: t for n, t in self.held.items() if ancestors.get(n)}

    def ancestors(self, name: str) -> tuple[str, ...]:
        return self._ancestors.get(name, ())

    def dependents(self, name: str) -> tuple[str, ...]:
        """Every endpoint depending on `name`, directly or through others, nearest first."""
        return self._dependents.get(name, ())

    def cover(
        self, name: str, started_at: float, now: float, down: Callable[[str], bool], suspect: Callable[[str], bool]
    ) -> Cover | None:
        """Whether `name`'s failing (started at `started_at`) belongs to a dependency's outage."""
        ancestors = self.ancestors(name)
        if not ancestors:
            self.forget(name)  # (none left since a reload: no cover of an earlier config stays)
            return None
        blamed = [a for a in ancestors if down(a) or self._recovered.get(a, -1.0) > started_at]
        if blamed:
            roots = [a for a in blamed if not any(b in blamed for b in self.ancestors(a))]
            root = (roots or blamed)[-1]  # nearest first: the last is the deepest
            self.held.pop(name, None)
            self.covered_by[name] = root
            self.affected.setdefault(root, {})[name] = None
            return Cover("covered", root)
        waiting = [a for a in ancestors if suspect(a)]
        if waiting:
            start = self.held.setdefault(name, now)
            if now - start < max(self._hold_for.get(a, 0.0) for a in waiting):
                return Cover("held", waiting[-1])
        self.held.pop(name, None)
        self.covered_by.pop(name, None)
        return None

    def with_dependents(self) -> Iterable[tuple[str, tuple[str, ...]]]:
        """(endpoint, its dependents) for every endpoint something depends on."""
        return self._dependents.items()

    def released(self, name: str) -> list[str]:
        """Held dependents to look at again now that ancestor `name` has a result."""
        return [d for d in self.dependents(name) if d in self.held]

    def outage_started(self, root: str, failing: Iterable[str]) -> None:
        self.affected[root] = dict.fromkeys(failing)

    def outage_ended(self, root: str, now: float) -> list[str]:
        """The dependents affected by `root`'s outage; failures started before `now` stay its own."""
        self._recovered[root] = now
        for name, by in list(self.covered_by.items()):
            if by == root:
                del self.covered_by[name]
        return list(self.affected.pop(root, {}))

    def forget(self, name: str) -> None:
        """`name` is up again (or gone): no hold, no cover."""
        self.held.pop(name, None)
        self.covered_by.pop(name, None)


__all__ = ["Cover", "Dependencies", "DependencyPlan"]

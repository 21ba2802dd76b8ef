"""Which endpoints' down pages slowatch holds right now: the sparse `slowatch_endpoint_suppressed` series.

`slowatch_endpoint_suppressed{endpoint, reason} 1` exists while this process would keep the endpoint's
down alert quiet, so that the generated `SlowatchEndpointDown` (slowatch/generate/quorum.py) can stay
quiet too; no series otherwise. Reasons:

- `silence`: the endpoint is silenced (config `silences:` or `slowatch silence`, this instance's database),
  or every consumer depending on it is (silenced or in maintenance, the first consumer's reason);
- `maintenance`: a maintenance window covering the endpoint is open (by the daemon's clock), or every
  consumer depending on it is in one;
- `dependency`: its page is covered or held by a dependency's (slowatch/alerting/dependencies.py): the
  endpoint fails while an alerting endpoint it depends on is down or failing, or its firing alert is
  covered or held and not notified.

No series for an endpoint whose down alert has been sent: slowatch keeps a page already sent firing through
a silence or a window that starts later (it resolves when the endpoint recovers), and so do the rules. On a
location, an alert with a quorum is never sent; once it fires held by nothing but the quorum (`Firing.released`),
the rules' page may be out, and it is not held by a later silence or window either.
Silences and windows are exported whether the endpoint fails or not (they are known before any failure,
so the rules never see the failure first); a dependency is exported from the dependent's first failure,
in the same scrape as its `slowatch_probe_success 0`. `location quorum` is not a reason here: the rules
are what judge the quorum. Endpoints without a down alert get no series.

The cost is O(silences + maintenance windows + the endpoints they cover + the dependents of failing
endpoints with dependents + firing alerts) per scrape, from memory only: nothing when nothing is quiet.
"""

from __future__ import annotations

from slowatch.alerting.events import endpoint_key
from slowatch.alerting.health import EndpointHealth
from slowatch.alerting.suppress import Suppressor

REASONS = {"silenced": "silence", "maintenance": "maintenance"}


def held_pages(health: EndpointHealth, suppressor: Suppressor, ts: float) -> dict[str, str]:
    """endpoint -> reason (`silence`, `maintenance`, `dependency`) for every endpoint whose page is held at `ts`."""
    state, firing = health.state, health.book.firing

    def holdable(name: str) -> bool:
        """It has a down alert, and that alert has not been sent (a page sent stays firing through a silence),
        nor released to the rules' quorum page (`Firing.released`: the rules' page may be out)."""
        f = firing.get(endpoint_key(name))
        return (f is None or not (f.notified or f.released)) and state.alerting(name)

    own, quiet_consumers = suppressor.quiet(ts)
    out = {name: REASONS[why] for name, why in own.items() if holdable(name)}
    for consumer in quiet_consumers:
        for name in state.members.get(consumer, ()):
            if name in out or not holdable(name):
                continue
            consumers = health.consumers_of(name)
            if all(c in quiet_consumers for c in consumers):
                out[name] = REASONS[quiet_consumers[consumers[0]]]
    deps, streaks = health.deps, health.streaks
    for root, dependents in deps.with_dependents():
        s = streaks.get(root)
        if ((s is None or s.fails == 0) and endpoint_key(root) not in firing) or not state.alerting(root):
            continue  # (the cheap test first: at 100,000 endpoints, 1,000 roots cost 0.3 ms a scrape)
        for name in dependents:
            d = streaks.get(name)
            if name not in out and d is not None and d.fails > 0 and holdable(name):
                out[name] = "dependency"
    for name in (*deps.covered_by, *deps.held):
        if name not in out and endpoint_key(name) in firing and holdable(name):
            out[name] = "dependency"
    return out


__all__ = ["REASONS", "held_pages"]

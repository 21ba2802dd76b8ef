"""Budget corrections: retroactive exclusions of a consumer's events (all its SLOs, one SLO, or one endpoint).

A correction works like a maintenance window that was there from the start: its probes count as
excluded. Going forward the engine adds it to the matching routes' rules (`Correction.rule`); the past
is rebuilt exactly from the raw results (`replay_deltas`, on the store thread): the stored results of the
affected ledgers in the correction's hours are replayed twice, with the rules before and after the
change, and the difference is added to the live cells. Raw results are kept `retention.raw` (48 h), so
a correction must start within that; it must also end in the past (`validate`). So must one revoked
(`revoke_problems`): its replay needs the same raw results.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from slowatch.config.consumers import resolve_endpoints
from slowatch.config.messages import Suggest, did_you_mean
from slowatch.config.schema import Config
from slowatch.durations import format_duration
from slowatch.models import Outcome
from slowatch.slo.definitions import SloDef
from slowatch.slo.ledger import CoarseRow, FineRow, Ledger
from slowatch.slo.maintenance import OneOff, Rule, any_active
from slowatch.slo.persist import raw_results
from slowatch.untrusted import valid

MAX_REASON = 500


@dataclass(frozen=True, slots=True)
class Correction:
    id: int
    consumer: str
    slo: str | None
    endpoint: str | None
    start: float
    end: float
    reason: str = ""
    author: str = ""
    created_at: float = 0.0

    @classmethod
    def of_row(cls, row: Mapping[str, Any]) -> Correction:
        keys = ("id", "consumer", "slo", "endpoint", "start", "end", "reason", "author", "created_at")
        return cls(**{k: row[k] for k in keys})

    @property
    def rule(self) -> Rule:
        return OneOff(f"correction #{self.id}", self.start, self.end)

    def applies(self, consumer: str, keys: Mapping[tuple[str, str], str], fingerprint: str, endpoint: str) -> bool:
        """Whether it excludes `endpoint`'s results from the ledger `fingerprint` of `consumer`.

        Naming an SLO corrects its ledger, which SLOs that differ from it only by objective or window share."""
        if consumer != self.consumer or (self.endpoint is not None and endpoint != self.endpoint):
            return False
        return self.slo is None or keys.get((self.consumer, self.slo)) == fingerprint


def validate(
    config: Config,
    consumer: str,
    slo: str | None,
    endpoint: str | None,
    start: float,
    end: float,
    reason: str,
    now: float,
    suggest: Suggest = did_you_mean,
) -> list[str]:
    """What is wrong with a correction request (empty: it may be recorded). The API passes a `suggest` bounded for
    the event loop (`loop_did_you_mean`)."""
    errors = []
    target = next((c for c in config.consumers if c.name == consumer), None)
    if target is None:
        return [f"unknown consumer {consumer!r}" + suggest(consumer, [c.name for c in config.consumers])]
    if slo is not None and endpoint is not None:
        errors.append("give --slo or --endpoint, not both")
    if slo is not None and all(s.name != slo for s in target.slos):
        errors.append(f"consumer {consumer!r} has no SLO {slo!r}")
    if endpoint is not None and endpoint not in resolve_endpoints(target.endpoints, config.endpoints):
        errors.append(f"consumer {consumer!r} does not depend on endpoint {endpoint!r}")
    if not start < end:
        errors.append("`from` must be before `to`")
    if end > now + 1:
        errors.append("a correction must end in the past (it corrects what was measured)")
    raw = config.server.retention.raw
    if start < now - raw:
        errors.append(f"can only correct the last {format_duration(raw)} (retention.raw): older raw results are gone")
    return errors + reason_problems(reason)


def revoke_problems(config: Config, found: Mapping[str, Any], now: float) -> list[str]:
    """What stops revoking the correction row `found` now (empty: it may be revoked).

    Taking a correction back replays its hours' raw results like applying it did; once its start is older
    than `retention.raw` they are (partly) gone, the replay would change nothing (or part) and the budgets
    would keep the correction while it is listed as revoked."""
    raw = config.server.retention.raw
    if found["start"] < now - raw:
        return [
            f"correction #{found['id']} can no longer be revoked: it starts more than {format_duration(raw)} "
            "ago (retention.raw) and the raw results its budgets would be recomputed from are gone"
        ]
    return []


def reason_problems(reason: str) -> list[str]:
    """What is wrong with a correction's or a revocation's reason: missing, too long, or not text that can
    be stored (a lone surrogate, which JSON's `\\udcff` and a non-UTF-8 command line both produce)."""
    if not reason.strip():
        return ["a reason is required"]
    if len(reason) > MAX_REASON:
        return [f"the reason is longer than {MAX_REASON} characters"]
    if valid(reason) != reason:
        return ["the reason is not valid Unicode text (it holds a lone surrogate)"]
    return []


Plan = tuple[SloDef, Ledger, Mapping[str, Sequence[Rule]], Mapping[str, Sequence[Rule]]]  # slo, template, old, new


def _replay(
    db: Database, slo: SloDef, template: Ledger, rules: Mapping[str, Sequence[Rule]], since: float, until: float
) -> dict[int, list[int]]:
    ledger = Ledger(
        template.fine, template.coarse, template.good_when, [n * template.fine for n in template.alert_cells],
        template.windows, until,
    )  # fmt: skip
    for ts, endpoint, outcome, duration in raw_results(db, list(slo.endpoints), since, until):
        ep_rules = rules.get(endpoint, ())
        ok = outcome == Outcome.SUCCESS.value and (slo.threshold is None or duration <= slo.threshold)
        ledger.observe(ts, ok, bool(ep_rules) and any_active(ep_rules, ts))
    fine, coarse = ledger.rows()
    cells: dict[int, list[int]] = {}
    for start, g, t in fine:
        cells[-1 - start] = [g, t]  # fine cells keyed negative (start >= 0), coarse ones by their start
    for start, *values in coarse:
        cells[start] = list(values)
    return cells


def replay_deltas(
    db: Database, plans: Mapping[str, Plan], since: float, until: float
) -> dict[str, tuple[list[FineRow], list[CoarseRow]]]:
    """Per ledger fingerprint, what changing its rules from old to new does to its cells for the stored
    results in [since, until]: fine and coarse rows of (signed) differences, for `Ledger.load(add=True)`."""
    out = {}
    for fp, (slo, template, old, new) in plans.items():
        before, after = _replay(db, slo, template, old, since, until), _replay(db, slo, template, new, since, until)
        fine: list[FineRow] = []
        coarse: list[CoarseRow] = []
        for key in sorted(before.keys() | after.keys()):
            a, b = before.get(key), after.get(key)
            zero = [0] * len(a or b or [])
            diff = [y - x for x, y in zip(a or zero, b or zero, strict=True)]
            if not any(diff):
                continue
            if key < 0:
                fine.append((-1 - key, diff[0], diff[1]))
            else:
                coarse.append((key, diff[0], diff[1], diff[2], diff[3], diff[4]))
        out[fp] = (fine, coarse)
    return out


__all__ = ["Correction", "reason_problems", "replay_deltas", "revoke_problems", "validate"]

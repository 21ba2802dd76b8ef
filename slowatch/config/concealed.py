"""What an endpoint must never show: the values `${...}` put into it, and how its fields were written.

`url: "http://api.internal/v1/${TENANT_TOKEN}"` probes the URL with the token in it, but every place
that shows the endpoint (the API, the status page, alerts, `slowatch probe`) must show
`http://api.internal/v1/${TENANT_TOKEN}` instead, and every message a probe derives from the URL
(`cannot resolve ...`, a redirect's final URL, an exception text) must have the value replaced by its
`${NAME}`. The loader attaches a `Concealed` to each endpoint with interpolated values
(`attach_concealed`); endpoints without any carry nothing, so probing them costs nothing extra.

Names and labels are identifiers (metric labels, URLs, selectors): they are shown as interpolated.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from slowatch.config.interpolate import interpolate

MIN_BARE = 6
"""Values at least this long are replaced wherever they appear; shorter ones only as a whole word
(not inside a longer run of letters and digits), so that `5` does not garble `got 503`."""

MEMO_SIZE = 64
"""Scrubbed texts remembered per endpoint."""

SHOWN_AS_IS = frozenset({"name", "labels"})
"""Endpoint fields that are identifiers: interpolated values in them are not concealed."""

_KEY = "concealed"
"""The key of the Concealed in an endpoint's pydantic private storage (see `attach_concealed`)."""


@dataclass(frozen=True, slots=True)
class Concealed:
    """One endpoint's interpolated values and its interpolated fields as written in the config."""

    templates: dict[str, str]
    """Field path (`url`, `host`, `port`, `proxy.url`) -> its text as written: `http://h/${TOKEN}`."""
    pattern: re.Pattern[str]
    """Matches any value (or its percent-encoded or IDNA form), longest first, ignoring case."""
    stand_ins: dict[str, str]
    """Each matched form, lowercased -> what is shown instead (`${TOKEN}`)."""
    memo: dict[str, str] = field(default_factory=dict, compare=False, repr=False)
    """Texts already scrubbed: a probe's final URL and failure messages repeat, and a dict lookup
    costs ~50 ns where the regex costs a few µs."""

    def scrub(self, text: str) -> str:
        """`text` with every value replaced by its `${NAME}`."""
        if not text:
            return text
        done = self.memo.get(text)
        if done is None:
            done = self.pattern.sub(self._replace, text)
            if len(self.memo) >= MEMO_SIZE:
                self.memo.clear()
            self.memo[text] = done
        return done

    def _replace(self, match: re.Match[str]) -> str:
        return self.stand_ins.get(match.group(0).lower(), "<redacted>")


def _forms(value: str) -> set[str]:
    """The value as it may appear in a message: as is, percent-encoded (URLs), IDNA-encoded (host names)."""
    forms = {value, quote(value, safe=""), quote(value, safe="/:@!$&'()*+,;=~")}
    with contextlib.suppress(UnicodeError):
        forms.add(value.encode("idna").decode("ascii"))
    return forms


def build_concealed(templates: Mapping[str, str], values: Iterable[tuple[str, str]]) -> Concealed | None:
    """A Concealed for (value, stand-in) pairs; None when there is no non-blank value to hide."""
    stand_ins: dict[str, str] = {}
    for value, stand_in in values:
        if value.strip():
            for form in _forms(value):
                stand_ins.setdefault(form.lower(), stand_in)
    if not stand_ins:
        return None
    parts = []
    for form in sorted(stand_ins, key=len, reverse=True):
        escaped = re.escape(form)
        parts.append(escaped if len(form) >= MIN_BARE else rf"(?<![A-Za-z0-9]){escaped}(?![A-Za-z0-9])")
    pattern = re.compile("|".join(parts), re.IGNORECASE)
    return Concealed(dict(templates), pattern, stand_ins)


def concealed_of(endpoint: Any) -> Concealed | None:
    """The Concealed the loader attached to `endpoint` (a config model), or None."""
    private: dict[str, Any] | None = endpoint.__pydantic_private__
    return private.get(_KEY) if private else None


def attach_concealed(endpoint: Any, concealed: Concealed) -> None:
    """Attach to a frozen endpoint model. Kept in pydantic's private storage (no field: it cannot be
    set from YAML; nothing per endpoint when unused), which survives pickling (the isolated loader,
    prober workers), `model_copy` and takes part in `==`."""
    object.__setattr__(endpoint, "__pydantic_private__", {_KEY: concealed})


def conceal_endpoints(
    endpoints: Sequence[Any],
    interpolated: Iterable[tuple[str | int, ...]],
    source: Mapping[tuple[str | int, ...], str],
    env: Mapping[str, str],
) -> int:
    """Attach a Concealed to every endpoint of `endpoints` (validated from the document's `endpoints`
    list, same order) with interpolated values; `interpolated` and `source` are the parser's records.
    Returns how many endpoints got one."""
    by_index: dict[int, dict[str, str]] = {}
    for path in interpolated:
        if len(path) < 3 or path[0] != "endpoints" or not isinstance(path[1], int) or path[2] in SHOWN_AS_IS:
            continue
        written = source.get(path)
        if written is not None and 0 <= path[1] < len(endpoints):
            by_index.setdefault(path[1], {})[".".join(str(k) for k in path[2:])] = written
    count = 0
    for index, templates in by_index.items():
        pairs: list[tuple[str, str]] = []
        for written in templates.values():
            result = interpolate(written, env)
            pairs.extend(zip(result.secrets, result.stand_ins, strict=True))
        concealed = build_concealed(templates, pairs)
        if concealed is not None:
            attach_concealed(endpoints[index], concealed)
            count += 1
    return count


__all__ = [
    "MIN_BARE",
    "SHOWN_AS_IS",
    "Concealed",
    "attach_concealed",
    "build_concealed",
    "conceal_endpoints",
    "concealed_of",
]

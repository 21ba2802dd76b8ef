"""Exposition-format text helpers: label names and values, numbers, HELP/TYPE headers.

Numbers are formatted exactly as prometheus-client's `floatToGoString` does (so the fast renderer's
output is byte-for-byte what the client would print for the same samples); label values are escaped
per the text and OpenMetrics formats (backslash, double quote, newline; lone surrogates, which UTF-8
cannot encode, become U+FFFD); label sets are sorted by
name, as the client's encoders sort them.
"""

from __future__ import annotations

from collections.abc import Sequence

from slowatch.untrusted import valid

_SPECIAL = {"inf": "+Inf", "-inf": "-Inf", "nan": "NaN"}
# Counts are small integers most of the time: their text is looked up, not formatted.
COUNTS = tuple(f"{i}.0" for i in range(4096))


def prometheus_label(name: str) -> str:
    """An endpoint label key as a Prometheus label name (`team-name` -> `team_name`)."""
    out = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    return out if out and not out[0].isdigit() else f"_{out}"


def go_float(value: float) -> str:
    """`prometheus_client.utils.floatToGoString` for a float, without its per-call overhead."""
    s = repr(value)
    dot = s.find(".")
    if dot > 6 and value > 0:
        mantissa = f"{s[0]}.{s[1:dot]}{s[dot + 1 :]}".rstrip("0.")
        return f"{mantissa}e+{dot - 1:02d}"
    if dot < 0 and s in _SPECIAL:
        return _SPECIAL[s]
    return s


def count_text(n: int) -> str:
    """A counter or bucket count, printed as the client prints a float (`3.0`, `1.234567e+06`)."""
    return COUNTS[n] if n < 4096 else go_float(float(n))


def escape_value(value: str) -> str:
    if not value.isascii():  # lone surrogates (a `${VAR}` from a non-UTF-8 environment) would fail to encode
        value = valid(value)
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def label_text(pairs: Sequence[tuple[str, str]]) -> str:
    """`a="x",b="y"` for (name, value) pairs, sorted by name."""
    return ",".join(f'{k}="{escape_value(v)}"' for k, v in sorted(pairs))


def split_at(pairs: Sequence[tuple[str, str]], name: str) -> tuple[str, str]:
    """The label text before and after where label `name` sorts in: `before` ends with a comma when not
    empty, `after` starts with one, so `{before}name="v"{after}` is the whole sorted label set."""
    before = label_text([p for p in pairs if p[0] < name])
    after = label_text([p for p in pairs if p[0] > name])
    return (f"{before}," if before else ""), (f",{after}" if after else "")


def header(name: str, help_text: str, typ: str, *, openmetrics: bool) -> str:
    """`# HELP` and `# TYPE` lines. In the text format a counter family is named with its `_total`."""
    if openmetrics:
        doc = help_text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
        return f"# HELP {name} {doc}\n# TYPE {name} {typ}\n"
    doc = help_text.replace("\\", "\\\\").replace("\n", "\\n")
    shown = f"{name}_total" if typ == "counter" else name
    return f"# HELP {shown} {doc}\n# TYPE {shown} {typ}\n"


__all__ = ["COUNTS", "count_text", "escape_value", "go_float", "header", "label_text", "prometheus_label", "split_at"]

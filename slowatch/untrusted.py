"""Text that other people control (what targets answer, what API clients write) made safe to keep and show.

One helper per place such text goes; each medium's own escaping (HTML in `web/`, Slack mrkdwn in
`alerting/sinks/text.py`, Prometheus label values in `metrics/text.py`, JSON by `json.dumps`) runs
on top of them:

    valid(text)          storable: lone surrogates (aiohttp decodes header bytes that are not UTF-8
                         with `surrogateescape`; JSON allows "\\ud800") become U+FFFD, so SQLite, UTF-8
                         pages and strict JSON parsers accept it. API texts holding one are refused
                         instead (annotations by their model, reasons by slo.corrections).
    one_line(text, n)    a message: `valid`, whitespace runs (CR, LF, tabs, U+2028) collapsed to one
                         space, other control characters (ESC, BEL, DEL, C1) and bidi overrides shown as
                         `\\u001b`, and at most n characters ("…" marks a cut). Every ProbeResult
                         message (probes.probe_once), a receiver's error body, the CLI's one-line fields.
    printable(text)      terminal and log output: `valid`, and every control or bidi character but
                         LF and TAB shown as `\\u001b`, so no ANSI sequence from a target reaches a tty
                         (process.TextFormatter uses it for log records).
    Printable(stream)    a text stream writing through `printable` (the CLI's stdout and stderr).
"""

from __future__ import annotations

import io
import re
from typing import TextIO

_SURROGATES = re.compile("[\ud800-\udfff]")
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_SPACES = re.compile(r"\s+")

MESSAGE_LIMIT = 1000
"""The longest ProbeResult message kept (a target's 1 MB header is cut to this)."""


def _shown(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def valid(text: str) -> str:
    """`text` with lone surrogates replaced by U+FFFD; the same object when there are none."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATES.sub("\ufffd", text)
    return text


def one_line(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """One line of at most `limit` characters with nothing a terminal, log or chat client acts on."""
    if len(text) > 4 * limit:  # bound the work on a huge input before the regexes run
        text = text[: 4 * limit]
    text = _CONTROLS.sub(_shown, _SPACES.sub(" ", valid(text)).strip())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def printable(text: str) -> str:
    """`text` for a terminal or a log file: lines and tabs kept, every other control shown escaped."""
    return _CONTROLS.sub(_shown, valid(text))  # _CONTROLS spares LF and TAB


class Printable(io.TextIOBase):
    """A text stream writing through `untrusted.printable` to another one (the terminal's)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(printable(text))
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._stream.encoding


__all__ = ["MESSAGE_LIMIT", "Printable", "one_line", "printable", "valid"]

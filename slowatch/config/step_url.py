"""A transaction step's URL template: where each `{{steps.<step>.<var>}}` sits, and the URL once filled.

An extracted value comes from a target, so it may be hostile: filling must never change where the request
goes nor the URL's structure. By place:

    path, query, fragment    the value is one percent-encoded component (only RFC 3986 unreserved
                             characters A-Z a-z 0-9 - . _ ~ stay as they are; `.` and `..` alone are
                             encoded too, so they are never dot segments): it cannot add a `/`, `?`,
                             `#`, `&`, `=` nor a host.
    the whole authority      (`http://{{...}}/x`) a host or host:port: letters, digits, `.`, `-`, `_`,
                             `:` and the brackets of an IPv6 literal.
    the host, or a part      (`http://{{...}}:8443/x`, `https://api.{{...}}/x`) letters, digits, `.`,
    of it                    `-`, `_` (a bracketed IPv6 literal when the value is the whole host).
    the port                 (`http://10.0.0.1:{{...}}/x`) 1 to 5 digits.
    right after a host       (`https://api.example{{...}}`, `http://10.0.0.1:8080{{...}}?x=1`) a value that
                             begins with `/` is the path (and query) itself, as a `Location` header
                             gives it (`/orders/123`): sent as written, as a configured URL's path is;
                             the scheme, host and port are the template's own. Any other value is read
                             as the end of the host name (or port), as above.

A value that does not fit its place raises `Refused`, naming the reference and never the value (it may be a
secret). After filling, the URL's scheme, host and port must be those of the filled authority alone, and a
host given by a value must be a host name or an IP address: a backstop, should the rules above miss a case.
The scheme cannot hold a reference (the config refuses it: it would not be http or https).
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from urllib.parse import quote

from yarl import URL

STEP_REF = re.compile(r"\{\{\s*steps\.([A-Za-z_][\w-]*)\.([A-Za-z_][\w-]*)\s*\}\}")
"""`{{steps.login.token}}`: the value `token` extracted by the earlier step `login`."""

_LAST_REF = re.compile(STEP_REF.pattern + r"\Z")

Lookup = Callable[[str, str], str]
"""(step, var) -> the value extracted."""

_NAME = "letters, digits, '.', '-', '_'"


class Place(Enum):
    AUTHORITY = (re.compile(r"[A-Za-z0-9._:\[\]-]*"), f"a host or host:port ({_NAME}, ':', [])")
    HOST = (re.compile(r"[A-Za-z0-9._-]*"), f"a host name ({_NAME})")
    WHOLE_HOST = (re.compile(r"[A-Za-z0-9._-]*|\[[0-9A-Fa-f:.]+\]"), f"a host name ({_NAME})")
    PORT = (re.compile(r"[0-9]{1,5}"), "a port (1 to 5 digits)")


_PATH = " or a path (/...)"
"""Added to the refusal of a reference right after a host, where a value beginning with `/` is the path."""


class Refused(ValueError):
    """An extracted value does not fit where the template puts it."""


def ref_name(match: re.Match[str]) -> str:
    return f"{{{{steps.{match.group(1)}.{match.group(2)}}}}}"


@dataclass(frozen=True, slots=True)
class UrlTemplate:
    head: str  # "https://" (everything up to the authority); the whole text when it has no "//"
    authority: str
    rest: str  # path, query, fragment

    @classmethod
    def parse(cls, text: str) -> UrlTemplate:
        """Never raises: a template that is not a URL keeps its text, and the config's URL check refuses it."""
        scheme, sep, after = text.partition("://")
        if not sep:
            return cls(text, "", "")
        end = min((i for i in (after.find(c) for c in "/?#") if i >= 0), default=len(after))
        return cls(scheme + sep, after[:end], after[end:])  # a reference holds none of / ? # (STEP_REF)

    def placeholder(self) -> str:
        """The template with each reference replaced by a value that fits its place (for the config's check)."""
        fits = {Place.PORT: "1"}
        after_host = self._after_host()
        text = self.authority if after_host is None else self.authority[: after_host.start()]  # (a path: "/x")
        authority = _fill_authority(text, lambda m, place: fits.get(place, "x"))
        return STEP_REF.sub("x", self.head) + authority + STEP_REF.sub("x", self.rest)

    def _after_host(self) -> re.Match[str] | None:
        """The reference that ends the authority right after a host (or its port), where a value beginning with
        `/` is the path; None when there is none (`http://{{...}}/x`, `http://h:{{...}}/x`: no host before it)."""
        found = _LAST_REF.search(self.authority)
        if found is None or found.start() == 0:
            return None
        return None if self.authority[found.start() - 1] in ":[" else found

    def fill(self, lookup: Lookup) -> URL:
        """The URL to send; `Refused` or (yarl's) ValueError when a value makes it invalid."""
        text = self.head + self.authority + self.rest
        if STEP_REF.search(text) is None:  # nothing to fill: the URL as written (the config checked it)
            return URL(text, encoded=False)

        template, lead = self.authority, ""
        after_host = self._after_host()
        if after_host is not None:
            value = lookup(after_host.group(1), after_host.group(2))
            if value.startswith("/"):  # the path: the authority is the template's text before it
                template, lead = self.authority[: after_host.start()], value

        def checked(match: re.Match[str], place: Place) -> str:
            value = lookup(match.group(1), match.group(2))
            pattern, what = place.value
            if not pattern.fullmatch(value):
                path = after_host is not None and match.group(0) == after_host.group(0)
                raise Refused(f"{ref_name(match)} cannot be {what}" + (_PATH if path else ""))
            return value

        authority = _fill_authority(template, checked)
        origin = URL(self.head + authority, encoded=False)
        if not origin.host:
            raise ValueError("no host")
        if STEP_REF.search(template) and not _host_or_ip(origin.raw_host or ""):
            raise Refused("the host once filled is neither a host name nor an IP address")
        path, query, fragment = self._fill_rest(lookup, lead)
        url = URL.build(
            scheme=origin.scheme, authority=origin.raw_authority, path=path, query_string=query, fragment=fragment,
            encoded=True,
        )  # fmt: skip
        if (url.scheme, url.raw_host, url.port, url.user, url.password) != (
            origin.scheme, origin.raw_host, origin.port, None, None
        ):  # fmt: skip
            raise Refused("the URL's origin would change once filled")
        return url

    def _fill_rest(self, lookup: Lookup, lead: str) -> tuple[str, str, str]:
        """Path, query and fragment, encoded: `lead` (a path value right after the host) and the template's own
        text as yarl encodes a configured URL, each value in them as one component (a random marker holds its
        place while yarl encodes the text around it)."""
        mark = "swref" + secrets.token_hex(8)
        values: list[str] = []

        def hold(match: re.Match[str]) -> str:
            values.append(_component(lookup(match.group(1), match.group(2))))
            return f"{mark}{len(values) - 1}x"

        shell = URL("http://h" + lead + STEP_REF.sub(hold, self.rest), encoded=False)
        filled = re.compile(mark + r"(\d+)x")

        def put(text: str) -> str:
            return filled.sub(lambda m: values[int(m.group(1))], text)

        return put(shell.raw_path), put(shell.raw_query_string), put(shell.raw_fragment)


def _fill_authority(text: str, value: Callable[[re.Match[str], Place], str]) -> str:
    if not STEP_REF.search(text):
        return text
    whole = STEP_REF.fullmatch(text)
    if whole is not None:
        return value(whole, Place.AUTHORITY)
    if text.startswith("["):  # `[{{...}}]`: the config refuses it (not an IPv6 literal)
        host, port = text.partition("]")[0] + "]", text.partition("]")[2].removeprefix(":")
    else:
        host, _, port = text.rpartition(":") if ":" in text else (text, "", "")
    one = STEP_REF.fullmatch(host)
    filled_host = value(one, Place.WHOLE_HOST) if one else STEP_REF.sub(lambda m: value(m, Place.HOST), host)
    filled_port = STEP_REF.sub(lambda m: value(m, Place.PORT), port)
    return filled_host + (":" + filled_port if text[len(host) :].startswith(":") else "")


def _component(value: str) -> str:
    encoded = quote(value, safe="")
    return encoded.replace(".", "%2E") if value in (".", "..") else encoded


def _host_or_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return re.fullmatch(r"[A-Za-z0-9._-]+", host) is not None
    return True


__all__ = ["STEP_REF", "Refused", "UrlTemplate", "ref_name"]

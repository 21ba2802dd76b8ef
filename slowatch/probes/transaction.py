"""Transaction probe: the steps of `kind: transaction` in order, in one cookie jar, within one timeout.

Each step is an HTTP request checked like `kind: http` (status, headers, body) plus `max_latency`; its
`extract:` values fill later steps' `{{steps.<step>.<var>}}`. The first failing step ends the run: the
result names it (`step login: expected status 200, got 500`) with the outcome class an HTTP probe would
give. Per-step durations are the result's `phases` (the API's `phases`, the metric
`slowatch_probe_step_duration_seconds{step}`); the status code is the last response's.

Extracted values are secrets: every message is scrubbed of them (shown as `{{steps.login.token}}`), they
are never logged, and they live only as long as the run. A value that is not UTF-8 text (a header's
latin-1 bytes, a JSON string with a lone surrogate escape) fails its step: sent on, it would not be the
value the target gave (aiohttp drops such characters from headers and URLs). A header that filling would give a control
character (a target handing out a token with CR/LF: header injection) fails the step, unsent; a value in the
URL never changes where the request goes (`config.step_url`: one encoded component in the path, query and
fragment; a host name or port fitting its place in the authority, or right after the host a path beginning
with `/`, else the step fails unsent). Cookies
set by one step go with the next steps of the same run, never to another run (a fresh jar per run, on
the daemon's shared connector).
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Any

import aiohttp
from yarl import URL

from slowatch.config.concealed import build_concealed
from slowatch.config.step_url import Refused, UrlTemplate
from slowatch.config.transaction import STEP_REF, Extract, Step, TransactionEndpoint
from slowatch.models import Outcome, ProbeResult
from slowatch.probes.assertions import MISSING, BodyChecker, check_response, json_path_get
from slowatch.probes.certs import TlsSettings, load_error
from slowatch.probes.failures import Failure
from slowatch.probes.http import NO_CLIENT_TIMEOUT, ProbeRequest, classify_http, keep_host_at_origin, read_bounded
from slowatch.probes.kind import TRANSPORT_OUTCOMES, KindGauge, ProbeKind, phases_of
from slowatch.redact import Shown, join_host_port

if TYPE_CHECKING:
    from slowatch.probes.context import ProbeContext

Values = dict[tuple[str, str], str]
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # what aiohttp refuses in a header (raising ValueError)
_CONTROLS = "(CR, LF, NUL, ...)"


class _Run:
    """One run's state: extracted values, per-step timings, the step under way, the last status."""

    def __init__(self) -> None:
        self.values: Values = {}
        self.phases: dict[str, float] = {}
        self.step = ""
        self.status: int | None = None
        self.reading = False
        self.url: URL | None = None  # the step's, once built

    def value(self, step: str, var: str) -> str:
        return self.values[(step, var)]

    def fill(self, text: str) -> str:
        return STEP_REF.sub(lambda m: self.values[(m.group(1), m.group(2))], text) if "{{" in text else text

    def fill_json(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.fill(value)
        if isinstance(value, list):
            return [self.fill_json(v) for v in value]
        if isinstance(value, dict):
            return {k: self.fill_json(v) for k, v in value.items()}
        return value

    def scrub(self, message: str) -> str:
        pairs = [(value, f"{{{{steps.{s}.{v}}}}}") for (s, v), value in self.values.items()]
        concealed = build_concealed({}, pairs)
        return message if concealed is None else concealed.scrub(message)


async def probe(endpoint: TransactionEndpoint, ctx: ProbeContext) -> ProbeResult:
    started = ctx.clock.time()
    t0 = ctx.clock.monotonic()
    run = _Run()
    try:
        ssl_option = _ssl_option(endpoint, ctx)
    except OSError as exc:  # a missing or unreadable CA bundle / client certificate
        outcome, message = Outcome.ERROR, load_error(exc)
    else:
        outcome, message = await _run(endpoint, ctx, run, ssl_option)
    return ProbeResult(
        endpoint=endpoint.name,
        kind="transaction",
        outcome=outcome,
        started_at=started,
        duration=ctx.clock.monotonic() - t0,
        message=run.scrub(message),
        status_code=run.status,
        phases=run.phases,
    )


async def _run(endpoint: TransactionEndpoint, ctx: ProbeContext, run: _Run, ssl_option: Any) -> Failure:
    jar = aiohttp.CookieJar(unsafe=True)  # unsafe: keep cookies of IP-address hosts too
    session = aiohttp.ClientSession(
        connector=ctx.session.connector, connector_owner=False, cookie_jar=jar, headers={"User-Agent": "slowatch"},
        request_class=ProbeRequest,
    )  # fmt: skip
    try:
        async with asyncio.timeout(endpoint.timeout):
            for step in endpoint.steps:
                run.step = step.name
                t0 = ctx.clock.monotonic()
                try:
                    outcome, message = await _step(endpoint, step, session, run, ssl_option)
                finally:
                    run.phases[step.name] = ctx.clock.monotonic() - t0
                if outcome is not Outcome.SUCCESS:
                    return outcome, f"step {step.name}: {message}"
                if step.max_latency is not None and run.phases[step.name] > step.max_latency:
                    took = run.phases[step.name]
                    limit = step.max_latency
                    return Outcome.ASSERTION_FAILED, f"step {step.name}: took {took:.3g}s, more than {limit:g}s"
    except TimeoutError:
        stage = "reading the body" if run.reading else "waiting for the response"
        return Outcome.TIMEOUT, f"step {run.step}: timed out {stage} ({endpoint.timeout:g}s for the whole transaction)"
    except (aiohttp.ClientError, OSError) as exc:
        where = "" if run.url is None else join_host_port(run.url.host or "", run.url.port)
        outcome, message = classify_http(exc, where, endpoint.timeout, endpoint.max_redirects, None)
        return outcome, f"step {run.step}: {message}"
    finally:
        await session.close()
        jar.clear()
    return Outcome.SUCCESS, ""


async def _step(
    endpoint: TransactionEndpoint, step: Step, session: aiohttp.ClientSession, run: _Run, ssl_option: Any
) -> Failure:
    headers = {k: run.fill(v.get_secret_value()) for k, v in step.headers.items()}
    for name, text in headers.items():  # an extracted value with CR/LF: header injection by the target
        if _CONTROL.search(text):
            return Outcome.ASSERTION_FAILED, f"header {name} would carry a control character {_CONTROLS}; not sent"
    options: dict[str, Any] = {
        "headers": headers,
        "allow_redirects": endpoint.follow_redirects,
        "max_redirects": endpoint.max_redirects + 1,
        "timeout": NO_CLIENT_TIMEOUT,  # the run's asyncio.timeout bounds every step
    }
    try:  # the config checked the template: only an extracted value can break it
        url = UrlTemplate.parse(step.url).fill(run.value)
    except Refused as exc:  # names the reference, never the value
        return Outcome.ASSERTION_FAILED, f"{exc}; not sent"
    except ValueError as exc:
        return Outcome.ASSERTION_FAILED, f"the URL is not valid once filled ({exc}); not sent"
    run.url = url
    options.update(keep_host_at_origin(headers, url))
    if ssl_option is not None:
        options["ssl"] = ssl_option
    if step.body is not None:
        options["data"] = run.fill(step.body).encode()
    elif step.form is not None:
        options["data"] = aiohttp.FormData({k: run.fill(v) for k, v in step.form.items()})
    elif "json_body" in step.model_fields_set:
        options["json"] = run.fill_json(step.json_body)
    async with session.request(step.method, url, **options) as resp:
        run.status = resp.status
        run.reading = True
        body, too_large = await read_bounded(resp, endpoint.max_body_size, step.method)
        run.reading = False
        head = check_response(step.expect, resp.status, resp.headers, too_large, endpoint.max_body_size)
        if head is not None:
            return head
        checker = BodyChecker(bytes(body), resp.charset)
        for assertion in step.expect.body:
            failed = checker.check(assertion)
            if failed is not None:
                return Outcome.ASSERTION_FAILED, failed
        for var, how in step.extract.items():
            value = _extract(how, checker, resp.headers)
            if value is None:
                return Outcome.ASSERTION_FAILED, f"cannot extract {var}: {_source(how)} not found"
            if not _utf8(value):  # bytes a header decoded with surrogateescape, a JSON "\ud800": unsendable as is
                return Outcome.ASSERTION_FAILED, f"cannot extract {var}: {_source(how)} is not UTF-8 text"
            run.values[(step.name, var)] = value
    return Outcome.SUCCESS, ""


def _extract(how: Extract, checker: BodyChecker, headers: Any) -> str | None:
    if how.header is not None:
        value = headers.get(how.header)
        return None if value is None else str(value)
    if how.regex is not None:
        match = re.search(how.regex, checker.text)
        if match is None:
            return None
        return match.group(1) if match.re.groups else match.group(0)
    assert how.json_path is not None
    document = checker.document()
    value = json_path_get(document, how.json_path)
    if value is None or value is MISSING or isinstance(value, dict | list):
        return None
    return str(value).lower() if isinstance(value, bool) else str(value)


def _utf8(value: str) -> bool:
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def _source(how: Extract) -> str:
    if how.header is not None:
        return f"header {how.header}"
    return f"/{how.regex}/ in the body" if how.regex is not None else str(how.json_path)


def _ssl_option(endpoint: TransactionEndpoint, ctx: ProbeContext) -> Any:
    tls = endpoint.tls
    if tls.ca_file or tls.cert_file:
        return ctx.ssl_contexts.get(TlsSettings(tls.verify, tls.ca_file, tls.cert_file, tls.key_file, tls.key_password))
    return False if not tls.verify else None


def _target(shown: Shown) -> str:
    steps = shown.endpoint.steps
    first = shown.url("steps.0.url") or ""
    return first if len(steps) == 1 else f"{first} (+{len(steps) - 1} step{'s' if len(steps) > 2 else ''})"


def _weight(endpoint: TransactionEndpoint) -> float:
    return sum(3.0 if step.url.startswith("https:") else 1.0 for step in endpoint.steps)


KIND = ProbeKind(
    name="transaction",
    model=TransactionEndpoint,
    probe=probe,
    target=_target,
    outcomes=TRANSPORT_OUTCOMES | {
        Outcome.TLS_ERROR, Outcome.HTTP_STATUS, Outcome.ASSERTION_FAILED, Outcome.BODY_TOO_LARGE,
        Outcome.TOO_MANY_REDIRECTS, Outcome.PROTOCOL_ERROR,
    },
    weight=_weight,
    gauges=(KindGauge("slowatch_probe_step_duration_seconds", "Duration of each step of the last transaction probe",
                      "step", phases_of, phases=True),),
    status_code=True,
)  # fmt: skip

__all__ = ["KIND", "probe"]

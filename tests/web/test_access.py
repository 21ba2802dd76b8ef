"""Access control: operator and consumer tokens, public consumers, and no leaks between consumers."""

from __future__ import annotations

import asyncio
import html
import json
import logging
import re
from pathlib import Path

import pytest

from slowatch.config import load_text
from slowatch.errors import ConfigError
from slowatch.web.auth import REFUSALS, REFUSALS_BURST, REFUSALS_WINDOW
from tests.web.conftest import Builder, config_text, fetch

OPERATOR = "op-7f3a9c1e5b2d4f60"
CHECKOUT = "co-1a2b3c4d5e6f7a8b"
PARTNER = "pa-9e8d7c6b5a4f3e2d"
AUTH = f"""  auth:
    operator_tokens: ["{OPERATOR}"]
    protect_metrics: true"""
CHECKOUT_ACCESS = f'    access: {{tokens: ["{CHECKOUT}"]}}'
PARTNER_ACCESS = f'    access: {{tokens: ["{PARTNER}"]}}'

CHECKOUT_PATHS = ["/consumers/checkout", "/api/v1/consumers/checkout", "/badges/checkout/availability.svg",
                  "/consumers/checkout/report"]  # fmt: skip
PARTNER_PATHS = ["/consumers/partner", "/api/v1/consumers/partner", "/badges/partner/availability.svg"]
OPERATOR_PATHS = ["/", "/api/v1/consumers", "/api/v1/endpoints", "/api/v1/alerts", "/metrics"]


async def test_every_access_case(build: Builder, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    daemon = await build(auth=AUTH, checkout_access=CHECKOUT_ACCESS, partner_access=PARTNER_ACCESS)
    # Always open: liveness and readiness.
    for path in ("/healthz", "/readyz"):
        assert (await fetch(daemon, path))[0] == 200
    # No token: 401 everywhere else, with a Bearer challenge.
    for path in CHECKOUT_PATHS[:3] + PARTNER_PATHS + OPERATOR_PATHS:
        assert (await fetch(daemon, path))[0] == 401, path
    # A consumer's token reads its own page, API subset and badges ...
    for path in CHECKOUT_PATHS[:3]:
        assert (await fetch(daemon, path, CHECKOUT))[0] == 200, path
    status, _, body = await fetch(daemon, "/api/v1/consumers/checkout", CHECKOUT)
    assert json.loads(body)["name"] == "checkout"
    # ... and never another consumer's, nor the operator's views.
    for path in PARTNER_PATHS + OPERATOR_PATHS:
        assert (await fetch(daemon, path, CHECKOUT))[0] == 403, path
    for path in CHECKOUT_PATHS[:3]:
        assert (await fetch(daemon, path, PARTNER))[0] == 403, path
    # A consumer that does not exist answers like one the token may not read: its existence stays hidden.
    for token, expected in ((None, 401), (CHECKOUT, 403), ("wrong-token-000000", 403)):
        for path in ("/consumers/ghost", "/api/v1/consumers/ghost", "/badges/ghost/availability.svg"):
            assert (await fetch(daemon, path, token))[0] == expected, (path, token)
    # The operator reads everything; only then does a missing consumer say 404.
    for path in CHECKOUT_PATHS[:3] + PARTNER_PATHS + OPERATOR_PATHS:
        assert (await fetch(daemon, path, OPERATOR))[0] == 200, path
    assert (await fetch(daemon, "/consumers/ghost", OPERATOR))[0] == 404
    # ?token= works too (links, badge images), and a page opened with it keeps it in its links.
    status, _, page = await fetch(daemon, f"/consumers/checkout?token={CHECKOUT}")
    assert status == 200 and f"/consumers/checkout/report?token={CHECKOUT}" in page
    # Tokens never reach the logs.
    for token in (OPERATOR, CHECKOUT, PARTNER):
        assert token not in caplog.text


async def test_a_token_in_the_query_string_works_on_every_api_route(build: Builder) -> None:
    """`?token=` is accepted wherever a token is, also by routes that refuse parameters they do not know."""
    daemon = await build(auth=AUTH, checkout_access=CHECKOUT_ACCESS, partner_access=PARTNER_ACCESS)
    for path in ("/api/v1/consumers/checkout/gate", "/api/v1/consumers/checkout/slos/availability/gate",
                 "/api/v1/consumers/checkout/annotations?limit=5"):  # fmt: skip
        joined = "&" if "?" in path else "?"
        status, _, body = await fetch(daemon, f"{path}{joined}token={CHECKOUT}")
        assert status == 200, (path, body)
        assert (await fetch(daemon, f"{path}{joined}token={PARTNER}"))[0] == 403, path
    for path in ("/api/v1/endpoints", "/api/v1/endpoints/pay/results?limit=1", "/api/v1/incidents",
                 "/api/v1/annotations", "/api/v1/corrections"):  # fmt: skip
        joined = "&" if "?" in path else "?"
        status, _, body = await fetch(daemon, f"{path}{joined}token={OPERATOR}")
        assert status == 200, (path, body)


async def test_public_consumer_and_unprotected_metrics(build: Builder) -> None:
    auth = f'  auth: {{operator_tokens: ["{OPERATOR}"]}}'
    daemon = await build(auth=auth, checkout_access="    access: {public: true}")
    for path in [*CHECKOUT_PATHS[:3], "/metrics"]:
        assert (await fetch(daemon, path))[0] == 200, path
    assert (await fetch(daemon, "/consumers/partner"))[0] == 401  # no access block: operator only
    assert (await fetch(daemon, "/"))[0] == 401


async def test_without_server_auth_everything_is_open(build: Builder) -> None:
    daemon = await build()
    for path in CHECKOUT_PATHS[:3] + PARTNER_PATHS + OPERATOR_PATHS:
        assert (await fetch(daemon, path))[0] == 200, path


def test_access_config_errors_are_located(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_text(config_text(tmp_path, checkout_access=CHECKOUT_ACCESS), "pages.yaml", env={})
    assert "consumers[0].access: needs server.auth" in str(err.value)
    short = '    access: {tokens: ["short"]}'
    with pytest.raises(ConfigError) as err:
        load_text(config_text(tmp_path, auth=AUTH, checkout_access=short), "pages.yaml", env={})
    text = str(err.value)
    assert "pages.yaml:" in text and "consumers[0].access.tokens[0]" in text and "at least 16" in text
    assert "short" not in text.replace("at least", "")


def test_check_warns_when_listening_beyond_loopback_unprotected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from slowatch.cli import main

    for listen, auth, warned in (("0.0.0.0:9464", "", True), ("127.0.0.1:9464", "", False),
                                 ("[::1]:9464", "", False), ("0.0.0.0:9464", AUTH, False)):  # fmt: skip
        path = tmp_path / "c.yaml"
        path.write_text(config_text(tmp_path, auth=auth).replace('"127.0.0.1:0"', f'"{listen}"'))
        assert main(["check", str(path)]) == 0
        err = capsys.readouterr().err
        assert ("is not a loopback address and nothing is protected" in err) is warned, (listen, auth)


def test_check_warns_when_metrics_are_open_beyond_loopback_while_consumers_are_protected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """/metrics holds every consumer's figures and names: open to anyone, it undoes the consumers' tokens."""
    from slowatch.cli import main

    open_metrics = AUTH.replace("protect_metrics: true", "protect_metrics: false")
    public = "    access: {public: true}"
    for listen, auth, partner, warned in (("0.0.0.0:9464", open_metrics, PARTNER_ACCESS, True),
                                          ("0.0.0.0:9464", open_metrics, public, False),  # nothing to hide
                                          ("0.0.0.0:9464", AUTH, PARTNER_ACCESS, False),
                                          ("127.0.0.1:9464", open_metrics, PARTNER_ACCESS, False)):  # fmt: skip
        path = tmp_path / "c.yaml"
        text = config_text(tmp_path, auth=auth, checkout_access=public, partner_access=partner)
        path.write_text(text.replace('"127.0.0.1:0"', f'"{listen}"'))
        assert main(["check", str(path)]) == 0
        err = capsys.readouterr().err
        assert ("/metrics is open" in err and "1 consumer(s) that tokens protect" in err) is warned, (listen, err)


def test_a_consumer_token_that_is_also_an_operator_or_annotation_token_is_refused(tmp_path: Path) -> None:
    """A copy-pasted `${OPERATOR_TOKEN}` under a consumer would hand its integrator every consumer's data."""
    auth = AUTH + '\n    annotation_tokens: ["deploy-0123456789abcdef"]'
    for token, role in ((OPERATOR, "an operator token"), ("deploy-0123456789abcdef", "an annotation token")):
        access = f'    access: {{tokens: ["{CHECKOUT}", "{token}"]}}'
        with pytest.raises(ConfigError) as err:
            load_text(config_text(tmp_path, auth=auth, checkout_access=access), "pages.yaml", env={})
        assert f"consumers[0].access.tokens[1]: is also {role} in server.auth" in str(err.value)
        assert token not in str(err.value)


async def test_a_token_that_is_not_utf8_is_refused_not_a_server_error(
    build: Builder, caplog: pytest.LogCaptureFixture
) -> None:
    """aiohttp hands over undecodable header bytes as surrogates: the comparison must not raise on them."""
    daemon = await build(auth=AUTH, checkout_access=CHECKOUT_ACCESS)
    raw = b"GET /consumers/checkout HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe-0123456789abcdef\r\n"
    with caplog.at_level(logging.INFO):
        for path in (b"/consumers/checkout", b"/api/v1/endpoints"):
            reader, writer = await asyncio.open_connection("127.0.0.1", daemon.bound_port)
            writer.write(raw.replace(b"/consumers/checkout", path) + b"Connection: close\r\n\r\n")
            reply = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            assert reply.startswith(b"HTTP/1.1 403 Forbidden"), reply[:200]
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_refused_requests_are_logged_with_their_route_and_peer_at_most_a_burst_a_minute(
    build: Builder, caplog: pytest.LogCaptureFixture
) -> None:
    """Anyone who reaches the port can send refused requests as fast as it answers: each was an INFO line,
    without saying where from. Now the route's pattern and the peer, `REFUSALS_BURST` lines a minute."""
    daemon = await build(auth=AUTH, checkout_access=CHECKOUT_ACCESS, partner_access=PARTNER_ACCESS)
    caplog.set_level(logging.INFO, logger="slowatch.web.auth")
    for i in range(REFUSALS_BURST + 30):
        assert (await fetch(daemon, f"/consumers/partner?token={CHECKOUT}&n={i}"))[0] == 403
    lines = [r.getMessage() for r in caplog.records if "request refused" in r.getMessage()]
    assert len(lines) == REFUSALS_BURST
    assert lines[0] == "request refused route=/consumers/{consumer} method=GET peer=127.0.0.1 why=token not allowed"
    assert CHECKOUT not in caplog.text
    # The next window's first line says how many were left out.
    refusals = daemon._runner.app[REFUSALS] if daemon._runner is not None else None
    assert refusals is not None
    caplog.clear()
    refusals.window_start -= REFUSALS_WINDOW
    assert (await fetch(daemon, "/api/v1/endpoints"))[0] == 401
    [line] = [r.getMessage() for r in caplog.records if "request refused" in r.getMessage()]
    assert line.endswith("why=token missing suppressed=30") and "route=/api/v1/endpoints" in line


async def test_the_status_page_opened_with_a_token_keeps_it_in_its_links(build: Builder) -> None:
    """README: a page opened with `?token=` keeps it in its links. The status page's links to the consumer
    pages and the JSON dropped it: each one followed from a browser was a 401."""
    daemon = await build(auth=AUTH, checkout_access=CHECKOUT_ACCESS, partner_access=PARTNER_ACCESS)
    status, _, page = await fetch(daemon, f"/?token={OPERATOR}")
    assert status == 200
    links = [html.unescape(h) for h in re.findall(r"href='(/[^']*)'", page)]
    assert "/consumers/checkout?token=" + OPERATOR in links and "/api/v1/alerts?token=" + OPERATOR in links, links
    for link in links:
        assert (await fetch(daemon, link))[0] == 200, link
    _, _, page = await fetch(daemon, "/", OPERATOR)  # a token in the header is not copied into the page
    assert OPERATOR not in page and "href='/consumers/checkout'" in page

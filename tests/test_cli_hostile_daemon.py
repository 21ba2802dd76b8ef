"""`slowatch gate --url` and `slowatch annotate --url` against servers that misbehave (real aiohttp servers on
loopback): whatever answers, the command ends with one line on stderr and exit status 2, never a traceback,
a hang, an unbounded read, a token in its output, or (gate) an answer it does not understand read as "go"."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator

import pytest
import trustme
from aiohttp import web

from tests.support.daemon_stub import (
    COMMANDS,
    GO,
    STORED,
    TOKEN,
    Hostile,
    annotate_argv,
    document,
    gate_argv,
    one_error_line,
    reply,
    run,
    serve,
)
from tests.support.sockets import free_port


@pytest.fixture
async def hostile() -> AsyncIterator[Hostile]:
    async for server in serve({}):
        yield server


async def test_the_well_behaved_daemon_still_gets_its_answers_through(
    hostile: Hostile, capsys: pytest.CaptureFixture[str]
) -> None:
    hostile.cases.update(go=document(GO), stored=document(STORED, 201))
    code, out, err, _ = await run(gate_argv(hostile.url("go")), capsys)
    assert (code, err) == (0, "") and out.startswith("GO: within policy\n"), (code, out, err)
    hold = {**GO, "decision": "hold", "slos": [{**GO["slos"][0], "decision": "hold"}]}  # type: ignore[index]
    hostile.cases["hold"] = document(hold)
    assert (await run(gate_argv(hostile.url("hold")), capsys))[0] == 1
    code, out, err, _ = await run(annotate_argv(hostile.url("stored")), capsys)
    assert (code, err) == (0, "") and out.startswith("annotated deploy at 2027-01-15 08:00:00 UTC (id 7)"), out
    assert [path for path, _ in hostile.seen] == [
        "/go/api/v1/consumers/shop/gate",
        "/hold/api/v1/consumers/shop/gate",
        "/stored/api/v1/annotations",
    ]
    assert {auth for _, auth in hostile.seen} == {f"Bearer {TOKEN}"}


@pytest.mark.parametrize("command", COMMANDS)
async def test_json_nested_100000_deep_is_an_error_not_a_recursion_error(
    hostile: Hostile, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    hostile.cases.update(deep=reply(200, deep), deep201=reply(201, '{"annotation": ' + deep + "}"))
    url = hostile.url("deep" if command == "gate" else "deep201")
    err = one_error_line(*(await run(COMMANDS[command](url), capsys))[:3])
    assert "nested too deep" in err, err


GATE_ANSWERS_NOT_UNDERSTOOD = {
    "list": [],
    "empty": {},
    "maybe": {**GO, "decision": "maybe"},
    "no_reason": {"decision": "go"},
    "slo_not_object": {**GO, "slos": [1]},
    "slo_without_name": {**GO, "slos": [{"decision": "go", "rule": "x"}]},
    "contradiction": {**GO, "slos": [{**GO["slos"][0], "decision": "hold"}]},  # type: ignore[index]
    "slo_unknown_decision": {**GO, "slos": [{**GO["slos"][0], "decision": "skip"}]},  # type: ignore[index]
}


@pytest.mark.parametrize("case", GATE_ANSWERS_NOT_UNDERSTOOD)
async def test_a_gate_answer_it_does_not_understand_is_an_error_never_a_go(
    hostile: Hostile, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    hostile.cases[case] = document(GATE_ANSWERS_NOT_UNDERSTOOD[case])
    for fmt in ("text", "json"):
        err = one_error_line(*(await run(gate_argv(hostile.url(case), "--format", fmt), capsys))[:3])
        assert "not a gate answer" in err, err


@pytest.mark.parametrize(
    "stored",
    [
        [],
        {},
        {"annotation": []},
        {"annotation": {"id": 1, "kind": "deploy", "ts": "x"}},
        {"annotation": {"id": 1, "kind": "deploy", "ts": 1e300}},
    ],
)
async def test_an_annotate_answer_it_does_not_understand_is_an_error_line(
    hostile: Hostile, capsys: pytest.CaptureFixture[str], stored: object
) -> None:
    hostile.cases["odd"] = document(stored, 201)
    err = one_error_line(*(await run(annotate_argv(hostile.url("odd")), capsys))[:3])
    assert "not an annotation" in err, err


async def _huge(request: web.Request, hostile: Hostile, declared: bool) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    if declared:
        response.content_length = 1 << 30
    await response.prepare(request)
    chunk = b" " * (1 << 16)
    try:
        while hostile.sent[0] < 1 << 30:
            await response.write(chunk)
            hostile.sent[0] += len(chunk)
    except (ConnectionError, RuntimeError):
        pass  # the client hung up, as it should
    return response


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("declared", [False, True], ids=["chunked", "content-length"])
async def test_a_1_gib_answer_is_cut_short_not_read_into_memory(
    hostile: Hostile, capsys: pytest.CaptureFixture[str], command: str, declared: bool
) -> None:
    hostile.cases["huge"] = lambda request: _huge(request, hostile, declared)
    code, out, err, took = await run(COMMANDS[command](hostile.url("huge"), "--timeout", "60"), capsys)
    assert "larger than 1 MiB" in one_error_line(code, out, err), err
    assert hostile.sent[0] < 64 << 20 and took < 30, (hostile.sent[0], took)


async def _silent(request: web.Request, hostile: Hostile) -> web.StreamResponse:
    await asyncio.wait_for(hostile.stop.wait(), 600)
    return web.Response()


async def _drip(request: web.Request, hostile: Hostile) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    await response.prepare(request)
    try:
        for byte in json.dumps(GO).encode():
            await response.write(bytes([byte]))
            if hostile.stop.is_set():
                break
            await asyncio.sleep(1.0)
    except (ConnectionError, RuntimeError):
        pass
    return response


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case", ["silent", "drip"])
async def test_a_server_that_never_answers_or_drips_a_byte_a_second_times_out(
    hostile: Hostile, capsys: pytest.CaptureFixture[str], command: str, case: str
) -> None:
    hostile.cases.update(silent=lambda r: _silent(r, hostile), drip=lambda r: _drip(r, hostile))
    code, out, err, took = await run(COMMANDS[command](hostile.url(case), "--timeout", "1.5"), capsys)
    assert "no complete answer within 1.5s (--timeout)" in one_error_line(code, out, err), err
    assert took < 10, took


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("timeout", ["0", "-1", "nan", "inf", "soon"])
async def test_a_timeout_that_would_wait_forever_is_refused(
    capsys: pytest.CaptureFixture[str], command: str, timeout: str
) -> None:
    with pytest.raises(SystemExit) as exit_:
        await run(COMMANDS[command]("http://127.0.0.1:9", "--timeout", timeout), capsys)
    assert exit_.value.code == 2 and "--timeout: " in capsys.readouterr().err


NOT_THE_ANSWER = {
    "html_200": reply(200, "<html>\n<body>\n<h1>Welcome to nginx</h1>\n</body>\n</html>\n", "text/html"),
    "plain_200": reply(200, json.dumps(GO), "text/plain"),
    "latin1_200": reply(200, b'{"decision": "go", "reason": "caf\xe9"}', "application/json; charset=utf-8"),
    "garbage_200": reply(200, b"\xff\xfe\x00garbage"),
    "truncated_200": reply(200, json.dumps(GO)[:20]),
}


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case", NOT_THE_ANSWER)
async def test_a_page_that_is_not_the_daemons_json_is_an_error(
    hostile: Hostile, capsys: pytest.CaptureFixture[str], command: str, case: str
) -> None:
    hostile.cases[case] = NOT_THE_ANSWER[case]
    one_error_line(*(await run(COMMANDS[command](hostile.url(case)), capsys))[:3])


ERROR_PAGE = f"<html>\n<head><title>Bad</title></head>\n<body>\n<pre>Authorization: Bearer {TOKEN}\n\x1b[31m</pre>"


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("status", [400, 401, 403, 404, 429, 500, 502, 503])
@pytest.mark.parametrize("body", ["none", "html", "json", "latin1"])
async def test_every_error_status_is_one_line_naming_the_status_without_the_token(
    hostile: Hostile, capsys: pytest.CaptureFixture[str], command: str, status: int, body: str
) -> None:
    bodies = {
        "none": reply(status),
        "html": reply(status, ERROR_PAGE, "text/html", **({"Retry-After": "30"} if status == 429 else {})),
        "json": document({"error": f"token {TOKEN} refused\nsecond line"}, status),
        "latin1": reply(status, b"caf\xe9 \xff", "text/plain; charset=utf-8"),
    }
    hostile.cases["status"] = bodies[body]
    err = one_error_line(*(await run(COMMANDS[command](hostile.url("status")), capsys))[:3])
    assert f"answered {status}" in err and "\x1b" not in err, err
    if body == "json":
        assert "refused second line" in err, err
    if status == 429 and body == "html":
        assert "retry after 30" in err, err


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
async def test_a_redirect_is_not_followed_and_the_token_goes_nowhere_else(
    hostile: Hostile, capsys: pytest.CaptureFixture[str], command: str, status: int
) -> None:
    async for other in serve({"go": document(GO), "stored": document(STORED, 201)}):
        target = (
            other.url("go" if command == "gate" else "stored")
            + "/api/v1/"
            + ("x" if command == "gate" else "annotations")
        )
        hostile.cases["moved"] = reply(status, "", "text/html", Location=target)
        err = one_error_line(*(await run(COMMANDS[command](hostile.url("moved")), capsys))[:3])
        assert f"answered {status}" in err and "not followed" in err and target in err, err
        assert other.seen == [], other.seen


@pytest.mark.parametrize("command", COMMANDS)
async def test_connection_refused_tls_errors_and_bad_urls_are_one_line(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    async for tls in serve({"go": document(GO), "stored": document(STORED, 201)}, ssl=context):
        err = one_error_line(*(await run(COMMANDS[command](tls.url("go")), capsys))[:3])
        assert "certificate" in err.lower(), err
        plain = tls.url("go").replace("https://", "http://")  # plain HTTP to a TLS port
        one_error_line(*(await run(COMMANDS[command](plain, "--timeout", "3"), capsys))[:3])
    err = one_error_line(*(await run(COMMANDS[command](f"http://127.0.0.1:{free_port()}"), capsys))[:3])
    assert "cannot connect" in err, err
    for url in ["", "slowatch:9464", "ftp://127.0.0.1/", "http://", "http://[::1", "http://127.0.0.1:99999",
                "http://127.0.0.1:9/?q=1", f"http://ci:{TOKEN}@127.0.0.1:9/", "http://exa mple.com/"]:  # fmt: skip
        err = one_error_line(*(await run(COMMANDS[command](url), capsys))[:3])
        assert err.startswith("--url: "), err


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("where", ["error", "location", "answer"])
async def test_a_token_echoed_where_the_line_is_cut_shows_no_part_of_it(
    hostile: Hostile, capsys: pytest.CaptureFixture[str], command: str, where: str
) -> None:
    pad = "x" * (195 - len(TOKEN) // 2)  # the echo straddles the cut of a 200-character field
    if where == "error":
        hostile.cases["echo"] = document({"error": pad + TOKEN}, 403)
    elif where == "location":
        hostile.cases["echo"] = reply(302, "", "text/html", Location=f"http://x/{pad[9:]}{TOKEN}")
    elif command == "gate":
        hostile.cases["echo"] = document({**GO, "reason": "y" * (3995 - len(TOKEN) // 2) + TOKEN})
    else:
        hostile.cases["echo"] = document({"annotation": {**STORED["annotation"], "id": "z" * 70 + TOKEN}}, 201)  # type: ignore[dict-item]
    code, out, err, _ = await run(COMMANDS[command](hostile.url("echo")), capsys)
    assert code in (0, 2) and "Traceback" not in err, (code, out, err)
    assert TOKEN[:8] not in out + err, (out, err)


@pytest.mark.parametrize("slos", [[1], "x", [{"decision": "hold"}]])
async def test_a_one_slo_gate_answer_with_an_slos_field_is_an_error(
    hostile: Hostile, capsys: pytest.CaptureFixture[str], slos: object
) -> None:
    """`gate --slo` checked the answer's own decision, slo and rule, but render() read `slos` whenever the
    answer had one, unchecked: a traceback (KeyError, TypeError). The daemon's one-SLO answer has none."""
    one = {**GO["slos"][0], "slos": slos}  # type: ignore[index]
    hostile.cases["one"] = document(one)
    plain = await run(gate_argv(hostile.url("one"), "--slo", "availability"), capsys)
    assert "not a gate answer" in one_error_line(*plain[:3])
    hostile.cases["good"] = document(GO["slos"][0])  # type: ignore[index]
    code, out, err, _ = await run(gate_argv(hostile.url("good"), "--slo", "availability"), capsys)
    assert (code, out, err) == (0, "GO: ok\n  availability: go (rule: within policy)\n", ""), (code, out, err)

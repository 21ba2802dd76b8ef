"""`/api/v1/corrections`: the operator token records, lists and revokes; consumer tokens and no token
are refused; bad input is a 400 naming what is wrong (never a 500) and records nothing."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from slowatch.clock import FakeClock
from slowatch.daemon import Daemon
from tests.web.conftest import T0, Builder, fetch
from tests.web.test_access import AUTH, CHECKOUT, CHECKOUT_ACCESS, OPERATOR

H = 3600


async def post(daemon: Daemon, path: str, body: Any, token: str | None = OPERATOR) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = body if isinstance(body, str) else json.dumps(body)
    url = f"http://127.0.0.1:{daemon.bound_port}{path}"
    async with aiohttp.ClientSession() as s, s.post(url, data=data, headers=headers) as r:
        text = await r.text()
        try:
            return r.status, json.loads(text)
        except ValueError:
            return r.status, text


async def test_corrections_api_access_and_bad_input(build: Builder) -> None:
    daemon = await build(auth=AUTH, checkout_access=CHECKOUT_ACCESS)
    good = {"consumer": "checkout", "endpoint": "pay", "from": T0 + 60 * H, "to": "2026-11-12T13:00:00Z",
            "reason": "planned test"}  # fmt: skip
    for token in (None, CHECKOUT):  # no token, a consumer's token: refused, nothing recorded
        assert (await fetch(daemon, "/api/v1/corrections", token))[0] in (401, 403)
        assert (await post(daemon, "/api/v1/corrections", good, token))[0] in (401, 403)
        assert (await post(daemon, "/api/v1/corrections/1/revoke", {"reason": "x"}, token))[0] in (401, 403)
    bad = [
        ("{not json", "the body must be a JSON object"),
        ("[1, 2]", "the body must be a JSON object"),
        ({**good, "colour": "red"}, "unknown field(s): colour"),
        ({**good, "from": "yesterday"}, "from: not a time: 'yesterday'"),
        ({**good, "to": "2026-11-12T13:00:00"}, "to: give an offset"),
        ({**good, "from": None}, "from: required"),
        ({**good, "consumer": 7}, "consumer: must be a string"),
        ({**good, "consumer": "nobody"}, "unknown consumer 'nobody'"),
        ({**good, "slo": "availability"}, "give --slo or --endpoint, not both"),
        ({**good, "endpoint": "far"}, "does not depend on endpoint 'far'"),
        ({**good, "from": T0 + 62 * H}, "`from` must be before `to`"),
        ({**good, "to": T0 + 80 * H}, "must end in the past"),
        ({**good, "from": T0 + 10 * H, "to": T0 + 11 * H}, "can only correct the last 2d"),
        ({**good, "reason": "  "}, "a reason is required"),
        ({**good, "reason": "cut \udcff"}, "the reason is not valid Unicode"),  # JSON allows lone surrogates
    ]
    for body, message in bad:
        status, answer = await post(daemon, "/api/v1/corrections", body)
        assert status == 400 and message in answer["error"], (body, answer)
    assert json.loads((await fetch(daemon, "/api/v1/corrections", OPERATOR))[2]) == {"corrections": []}

    status, made = await post(daemon, "/api/v1/corrections", good)
    assert status == 201 and made["applied"] is True and made["author"] == "operator-1"
    assert (made["start"], made["end"], made["endpoint"]) == (T0 + 60 * H, T0 + 61 * H, "pay")
    cid = made["id"]
    for path, body, status_, message in [
        ("/api/v1/corrections/abc/revoke", {"reason": "x"}, 400, "id: must be a correction's number"),
        ("/api/v1/corrections/999/revoke", {"reason": "x"}, 404, "no correction #999"),
        (f"/api/v1/corrections/{cid}/revoke", {}, 400, "a reason is required"),
        (f"/api/v1/corrections/{cid}/revoke", "nope", 400, "the body must be a JSON object"),
        (f"/api/v1/corrections/{cid}/revoke", {"reason": "\ud800"}, 400, "the reason is not valid Unicode"),
        (f"/api/v1/corrections/{cid}/revoke", {"reason": "x" * 501}, 400, "longer than 500 characters"),
    ]:
        got, answer = await post(daemon, path, body)
        assert got == status_ and message in answer["error"], (path, answer)
    status, revoked = await post(daemon, f"/api/v1/corrections/{cid}/revoke", {"reason": "a real outage"})
    assert status == 201 and revoked["revokes"] == cid and revoked["applied"] is False
    status, again = await post(daemon, f"/api/v1/corrections/{cid}/revoke", {"reason": "twice"})
    assert status == 400 and f"correction #{cid} is already revoked" in again["error"]
    rows = json.loads((await fetch(daemon, "/api/v1/corrections", OPERATOR))[2])["corrections"]
    assert [(r["id"], r["action"], r["revoked_by"], r["applied"]) for r in rows] == [
        (cid, "correct", revoked["id"], False),
        (revoked["id"], "revoke", None, None),
    ]


async def test_a_correction_older_than_raw_retention_cannot_be_revoked(build: Builder) -> None:
    """Its raw results are gone, so revoking it would change no cell while listing it as revoked (the budgets
    kept the correction, silently): refused, naming why, and nothing is recorded."""
    daemon = await build(auth=AUTH, checkout_access=CHECKOUT_ACCESS)
    body = {"consumer": "checkout", "endpoint": "pay", "from": T0 + 60 * H, "to": T0 + 61 * H, "reason": "test"}
    status, made = await post(daemon, "/api/v1/corrections", body)
    assert status == 201 and made["applied"] is True
    clock = daemon._clock
    assert isinstance(clock, FakeClock)
    clock.advance(T0 + 60 * H + 2 * 86400 + 1 - clock.time())  # its start is now older than retention.raw (2d)
    status, answer = await post(daemon, f"/api/v1/corrections/{made['id']}/revoke", {"reason": "a real outage"})
    assert status == 400 and f"correction #{made['id']} can no longer be revoked" in answer["error"], answer
    assert "retention.raw" in answer["error"]
    rows = json.loads((await fetch(daemon, "/api/v1/corrections", OPERATOR))[2])["corrections"]
    assert [(r["action"], r["revoked_by"], r["applied"]) for r in rows] == [("correct", None, True)]


async def test_a_body_in_a_charset_python_does_not_know_is_a_400_not_a_500(build: Builder) -> None:
    """aiohttp's `request.text()` decodes with the Content-Type's charset: an unknown one raised LookupError."""
    daemon = await build(auth=AUTH, checkout_access=CHECKOUT_ACCESS)
    url = f"http://127.0.0.1:{daemon.bound_port}/api/v1/corrections"
    headers = {"Authorization": f"Bearer {OPERATOR}", "Content-Type": "application/json; charset=no-such-charset"}
    async with aiohttp.ClientSession() as s, s.post(url, data=b'{"consumer": "checkout"}', headers=headers) as r:
        assert r.status == 400, (r.status, await r.text())
        assert (await r.json())["error"] == "the body must be a JSON object"


async def test_a_correction_id_in_other_than_ascii_digits_is_a_400(build: Builder) -> None:
    """`int()` reads Arabic-Indic digits and `0_1` as numbers: `/corrections/%D9%A1/revoke` revoked #1 (session h15)."""
    daemon = await build(auth=AUTH, checkout_access=CHECKOUT_ACCESS)
    good = {"consumer": "checkout", "endpoint": "pay", "from": T0 + 60 * H, "to": T0 + 61 * H, "reason": "planned"}
    status, made = await post(daemon, "/api/v1/corrections", good)
    assert status == 201 and made["id"] == 1
    for raw in ("%D9%A1", "0_1", "%2B1", "%C2%B9"):  # Arabic-Indic one, 0_1, +1, superscript one
        status, answer = await post(daemon, f"/api/v1/corrections/{raw}/revoke", {"reason": "not this way"})
        assert status == 400 and answer["error"] == "id: must be a correction's number", (raw, answer)
    rows = json.loads((await fetch(daemon, "/api/v1/corrections", OPERATOR))[2])["corrections"]
    assert [(r["id"], r["revoked_by"]) for r in rows] == [(1, None)]

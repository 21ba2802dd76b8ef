"""Annotations: POST with an operator or annotation token, listing with validated filters, the marks
on the consumer page's burn-down, and the report's budget burned in the hours after each deploy."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from slowatch.daemon import Daemon
from slowatch.store.annotations import Annotation, add_annotation
from tests.web.conftest import OUTAGE, T0, Builder, config_text, fetch

OPERATOR = "op-7f3a9c1e5b2d4f60"
DEPLOYER = "deploy-0123456789abcdef"
CHECKOUT = "co-1a2b3c4d5e6f7a8b"
AUTH = f"""  auth:
    operator_tokens: ["{OPERATOR}"]
    annotation_tokens: ["{DEPLOYER}"]"""
CHECKOUT_ACCESS = f'    access: {{tokens: ["{CHECKOUT}"]}}'


async def post(daemon: Daemon, body: Any, token: str | None = OPERATOR) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = f"http://127.0.0.1:{daemon.bound_port}/api/v1/annotations"
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with aiohttp.ClientSession() as s, s.post(url, data=data, headers=headers) as r:
        text = await r.text()
        try:
            return r.status, json.loads(text)
        except ValueError:
            return r.status, text


async def listing(daemon: Daemon, query: str = "", token: str = OPERATOR) -> tuple[int, Any]:
    status, _, body = await fetch(daemon, f"/api/v1/annotations{query}", token)
    return status, json.loads(body) if body.startswith("{") else body


async def test_post_and_list_with_tokens_and_filters(build: Builder) -> None:
    daemon = await build(auth=AUTH, checkout_access=CHECKOUT_ACCESS)
    deploy = {"kind": "deploy", "text": "pay v142", "endpoint": "pay", "time": T0 + 29.5 * 3600}
    status, doc = await post(daemon, deploy, DEPLOYER)
    assert status == 201, doc
    stored = doc["annotation"]
    assert stored["endpoints"] == ["pay"] and stored["source"] == "api:annotation-token"
    assert stored["ts"] == T0 + 29.5 * 3600
    status, doc = await post(daemon, {"kind": "note", "text": "partner launch", "consumers": ["partner"],
                                      "time": "2026-11-12T00:00:00Z"})  # fmt: skip
    assert status == 201 and doc["annotation"]["source"] == "api:operator:operator-1"
    status, doc = await post(daemon, {"kind": "incident", "text": "everyone: DNS"})  # time: now, no scope
    assert status == 201 and doc["annotation"]["ts"] == daemon.now()
    # Who may do what: a consumer token posts nothing; an annotation token only posts.
    assert (await post(daemon, deploy, CHECKOUT))[0] == 403
    assert (await post(daemon, deploy, None))[0] == 401
    assert (await listing(daemon, token=DEPLOYER))[0] == 403
    # Listing: oldest first, filtered.
    status, doc = await listing(daemon)
    assert status == 200 and [a["text"] for a in doc["annotations"]] == ["pay v142", "partner launch", "everyone: DNS"]
    _, doc = await listing(daemon, "?consumer=checkout")  # via its endpoint pay, and the unscoped one
    assert [a["text"] for a in doc["annotations"]] == ["pay v142", "everyone: DNS"]
    _, doc = await listing(daemon, f"?since={T0 + 30 * 3600}&kind=note")
    assert [a["text"] for a in doc["annotations"]] == ["partner launch"]
    _, doc = await listing(daemon, f"?until={T0 + 30 * 3600}&endpoint=pay&limit=5")
    assert [a["text"] for a in doc["annotations"]] == ["pay v142"]
    # A consumer's token reads the ones concerning it.
    status, _, body = await fetch(daemon, "/api/v1/consumers/checkout/annotations?kind=deploy", CHECKOUT)
    assert status == 200 and [a["text"] for a in json.loads(body)["annotations"]] == ["pay v142"]
    assert (await fetch(daemon, "/api/v1/consumers/partner/annotations", CHECKOUT))[0] == 403
    assert (await fetch(daemon, "/api/v1/consumers/checkout/annotations?kind=x", CHECKOUT))[0] == 400


async def test_bad_input_is_a_400_naming_the_field(build: Builder) -> None:
    daemon = await build(auth=AUTH)
    cases: list[tuple[Any, str]] = [
        (b"{not json", "body"),
        ([1, 2], "body"),
        ({"kind": "release", "text": "x"}, "kind"),
        ({"kind": "deploy"}, "text"),
        ({"kind": "deploy", "text": ""}, "text"),
        ({"kind": "deploy", "text": "x", "consumers": ["ghost"]}, "consumers"),
        ({"kind": "deploy", "text": "x", "endpoint": "ghost"}, "endpoints"),
        ({"kind": "deploy", "text": "x", "time": "yesterday"}, "time"),
        ({"kind": "deploy", "text": "x", "time": "2026-11-11T00:00:00"}, "time"),
        ({"kind": "deploy", "text": "x", "time": 1e300}, "time"),
        ({"kind": "deploy", "text": "x", "time": "".join(chr(0x660 + int(d)) for d in "1764950000")}, "time"),
        ({"kind": "deploy", "text": "x", "time": "1_764_950_000"}, "time"),  # (float() read both, h15)
        ({"kind": "deploy", "text": "x", "colour": "red"}, "colour"),
    ]
    for body, field in cases:
        status, doc = await post(daemon, body)
        assert status == 400 and doc["parameter"] == field, (body, status, doc)
    for query, field in [("?since=abc", "since"), ("?since=20&until=10", "until"), ("?kind=release", "kind"),
                         ("?limit=0", "limit"), ("?colour=red", "colour")]:  # fmt: skip
        status, doc = await listing(daemon, query)
        assert status == 400 and doc["parameter"] == field, (query, doc)
    assert (await listing(daemon, "?consumer=ghost"))[0] == 404
    assert (await listing(daemon))[1] == {"annotations": []}  # nothing bad was stored


async def test_page_marks_and_report_burn_after_deploys(build: Builder) -> None:
    daemon = await build()
    await post(daemon, {"kind": "deploy", "text": "pay v142", "consumer": "checkout", "time": OUTAGE[0] - 1800})
    await post(daemon, {"kind": "deploy", "text": "cat v7", "consumer": "checkout", "time": T0 + 40 * 3600})
    status, _, page = await fetch(daemon, "/consumers/checkout")
    assert status == 200 and page.count("<g class='mark deploy'>") == 4  # both deploys on both SLOs' burn-downs...
    assert "deploy 2026-11-11 05:30 UTC: pay v142" in page
    _, _, other = await fetch(daemon, "/consumers/partner")
    assert "class='mark" not in other  # ...and not on another consumer's
    status, _, report = await fetch(daemon, "/consumers/checkout/report")
    assert status == 200 and "<h3>After deploys</h3>" in report
    # pay was down 30h..31h: 6 bad probes of the 7d availability SLO, all in the 4 h after the first deploy
    # (from its hour, 29h). The period allows 1% of its 2 x 432 probes less the 24 in maintenance: 8.4 bad.
    assert "<td>pay v142</td><td>6 of 48</td><td>71.4%</td>" in report, report[report.index("After deploys") :][:600]
    assert "<td>cat v7</td><td>0 of 48</td><td>0%</td>" in report


async def test_annotate_cli_posts_or_writes_the_database(build: Builder, tmp_path: Path) -> None:
    daemon = await build(auth=AUTH)
    config = tmp_path / "slowatch.yaml"
    config.write_text(config_text(tmp_path, auth=AUTH))

    async def cli(*args: str, token: str | None = None) -> tuple[int, str]:
        env = {"SLOWATCH_TOKEN": token} if token else {}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "slowatch", "annotate", *args, env={**__import__("os").environ, **env},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await proc.communicate()
        return proc.returncode or 0, out.decode()

    url = f"http://127.0.0.1:{daemon.bound_port}"
    code, out = await cli("--url", url, "--kind", "deploy", "--text", "v1", "--consumer", "checkout", token=DEPLOYER)
    assert code == 0 and out.startswith("annotated deploy at "), out
    code, out = await cli("--url", url, "--kind", "deploy", "--text", "v1", token="wrong-token-0123456789")
    assert code == 2 and "403" in out
    code, out = await cli("--config", str(config), "--kind", "note", "--text", "from cron", "--at", "2026-11-12T00:00Z")
    assert code == 0, out
    code, out = await cli("--config", str(config), "--kind", "note", "--text", "x", "--consumer", "ghost")
    assert code == 2 and "unknown consumer 'ghost'" in out
    _, doc = await listing(daemon)
    assert [(a["text"], a["source"]) for a in doc["annotations"]] == [
        ("from cron", "cli"),
        ("v1", "api:annotation-token"),
    ]


async def test_text_and_json_reports_list_the_budget_burned_after_deploys(build: Builder, tmp_path: Path) -> None:
    daemon = await build()
    await post(daemon, {"kind": "deploy", "text": "pay v142", "consumer": "checkout", "time": OUTAGE[0] - 1800})
    await post(daemon, {"kind": "note", "text": "not a deploy", "consumer": "checkout", "time": OUTAGE[0] - 1800})
    config = tmp_path / "slowatch.yaml"
    config.write_text(config_text(tmp_path))
    at = "2026-11-13T00:00:00+00:00"  # T0 + 72 h, when build() stopped feeding

    async def report(fmt: str) -> str:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "slowatch", "report", "--config", str(config), "--consumer", "checkout",
            "--slo", "availability", "--format", fmt, "--at", at, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, _ = await proc.communicate()
        assert proc.returncode == 0
        return out.decode()

    [doc] = json.loads(await report("json"))
    [after] = doc["after_deploys"]
    assert after["deploy"]["text"] == "pay v142" and (after["bad"], after["total"]) == (6, 48)
    assert after["budget_share"] == pytest.approx(6 / 8.4) and after["window_start"] == OUTAGE[0] - 3600
    table = await report("table")
    assert "Budget burned in the 4 h after each deploy:" in table
    assert "checkout/availability  2026-11-11 05:30 UTC  pay v142: 6 bad of 48 in 4 h, 71.4% of the budget" in table
    assert "Budget burned" not in await report("csv")
    # markdown (pasted into an update): a list under a bold title, not indented lines that render as one paragraph
    assert (
        "\n**Budget burned in the 4 h after each deploy**\n\n"
        "- checkout/availability  2026-11-11 05:30 UTC  pay v142: 6 bad of 48 in 4 h, 71.4% of the budget\n"
    ) in await report("markdown")


async def test_limit_counts_only_the_annotations_a_listing_shows(build: Builder) -> None:
    """`limit` keeps the newest of the annotations that pass the filters, never of all of them: cut before the
    filter, checkout's `?limit=1` answered [] whenever partner's latest deploy was newer than checkout's, so
    checkout's token could tell when (and how often) partner annotated by moving `until` and `limit`."""
    daemon = await build(auth=AUTH, checkout_access=CHECKOUT_ACCESS)
    mine = {"kind": "deploy", "text": "checkout v7", "consumers": ["checkout"], "time": T0 + 3600}
    assert (await post(daemon, mine))[0] == 201
    for hour in (2, 3, 4):
        theirs = {"kind": "note", "text": f"partner {hour}", "consumers": ["partner"], "time": T0 + hour * 3600}
        assert (await post(daemon, theirs))[0] == 201
    for until in (T0 + 3600, T0 + 2 * 3600, T0 + 5 * 3600):
        path = f"/api/v1/consumers/checkout/annotations?limit=1&until={until}"
        status, _, body = await fetch(daemon, path, CHECKOUT)
        assert status == 200 and [a["text"] for a in json.loads(body)["annotations"]] == ["checkout v7"], (until, body)
    # The operator's filters likewise: the newest deploy, though three notes are newer.
    _, doc = await listing(daemon, "?kind=deploy&limit=1")
    assert [a["text"] for a in doc["annotations"]] == ["checkout v7"]
    _, doc = await listing(daemon, "?consumer=partner&limit=2")
    assert [a["text"] for a in doc["annotations"]] == ["partner 3", "partner 4"]


async def test_a_consumers_deploys_are_not_lost_behind_a_thousand_newer_annotations(
    build: Builder, tmp_path: Path
) -> None:
    """The page, the HTML report and `slowatch report` read the annotations concerning the consumer, not
    the newest 1,000 of all: a busy other consumer (or a CI loop posting notes) made checkout's deploy
    vanish from its burn-down and its "after deploys" table."""
    daemon = await build()
    await post(daemon, {"kind": "deploy", "text": "pay v142", "consumer": "checkout", "time": OUTAGE[0] - 1800})
    for i in range(1001):
        daemon.store.submit(add_annotation(Annotation(T0 + 60 * 3600 + i, "note", f"partner {i}", ("partner",))))
    await daemon.store.flush()
    _, _, page = await fetch(daemon, "/consumers/checkout")
    assert "deploy 2026-11-11 05:30 UTC: pay v142" in page
    _, _, report = await fetch(daemon, "/consumers/checkout/report")
    assert "<td>pay v142</td><td>6 of 48</td><td>71.4%</td>" in report
    config = tmp_path / "slowatch.yaml"
    config.write_text(config_text(tmp_path))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "slowatch", "report", "--config", str(config), "--consumer", "checkout",
        "--slo", "availability", "--format", "json", "--at", "2026-11-13T00:00:00+00:00",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await proc.communicate()
    [doc] = json.loads(out)
    assert [a["deploy"]["text"] for a in doc["after_deploys"]] == ["pay v142"]


async def test_an_annotation_records_which_operator_posted_it(build: Builder) -> None:
    """As a correction records its author: `api:operator:<token name>`, so two operators' notes are told apart."""
    auth = f"""  auth:
    operator_tokens: [{{name: alice, token: "alice-0123456789abcdef"}}, "anon-0123456789abcdef"]
    annotation_tokens: ["{DEPLOYER}"]"""
    daemon = await build(auth=auth)
    sources = []
    for token in ("alice-0123456789abcdef", "anon-0123456789abcdef", DEPLOYER):
        status, doc = await post(daemon, {"kind": "note", "text": "x"}, token)
        assert status == 201, doc
        sources.append(doc["annotation"]["source"])
    assert sources == ["api:operator:alice", "api:operator:operator-2", "api:annotation-token"]
    _, listed = await listing(daemon, token="alice-0123456789abcdef")
    assert [a["source"] for a in listed["annotations"]] == sources

"""The scale benchmark harness (benchmarks/run.py) still runs end to end and reports sane figures.

A few seconds with 20 endpoints: real target servers, the real daemon, the restart and the
bare-aiohttp baseline. The figures themselves are not judged here, only that they exist.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from slowatch.slo.rebuild import GROUP_SLOS

RUN = Path(__file__).resolve().parent.parent / "benchmarks" / "run.py"


@pytest.mark.slow
def test_benchmark_harness_smoke(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(RUN),
            "--endpoints",
            "20",
            "--interval",
            "1",
            "--duration",
            "3",
            "--warmup",
            "0.5",
            "--consumers",
            "3",
            "--baseline-duration",
            "2",
            "--target-procs",
            "1",
            "--ports-per-proc",
            "1",
            "--scrape-interval",
            "1",
            "--ready-timeout",
            "15",
            "--workdir",
            str(tmp_path / "work"),
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "RATIO daemon / baseline CPU" in proc.stdout
    res = json.loads(out.read_text())
    d = res["daemon"]
    assert d["probes"] > 0
    assert 0 < res["probes_per_s"] <= res["scheduled_per_s"] * 1.5
    assert set(d["outcomes"]) <= {"success", "http_status", "connection_refused"}
    assert d["outcomes"].get("success", 0) > 0
    assert d["cpu_s"] > 0 and res["daemon_cpu_per_1000"] > 0
    assert d["peak_rss_mb"] > 10
    assert d["lag"]["count"] > 0 and d["lag"]["p99_s"] is not None
    assert d["missed"] == 0
    assert d["scrape_last"]["bytes"] > 0 and d["scrapes"]
    assert res["raw_bytes_per_row"] > 0
    assert res["restart"]["start_to_ready_s"] > 0
    assert res["baseline"]["probes"] > 0
    assert res["ratio"] > 0


@pytest.mark.slow
def test_probe_kinds_benchmark_smoke(tmp_path: Path) -> None:
    """benchmarks/probe_kinds.py: every kind probes its loopback target successfully, in both modes."""
    out = tmp_path / "kinds.json"
    script = RUN.parent / "probe_kinds.py"
    cmd = [sys.executable, str(script), "--rate", "20", "--duration", "0.5", "--warmup", "0.2", "--json", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = json.loads(out.read_text())
    assert {(r["kind"], r["mode"]) for r in rows} == {
        (k, m) for k in ("http", "https", "tcp", "tls", "dns") for m in ("bare", "slowatch")
    }
    assert all(r["probes"] > 0 and r["ok"] == r["probes"] and r["cpu_per_1000"] > 0 for r in rows), rows


@pytest.mark.slow
def test_slo_rebuild_benchmark_smoke(tmp_path: Path) -> None:
    """benchmarks/slo_rebuild.py on 400 endpoints: one read per group, the same cells as one SLO at a time."""
    script = RUN.parent / "slo_rebuild.py"
    args = ["--endpoints", "400", "--consumers", "10", "--alone", "4", "--db", str(tmp_path / "r.db")]
    proc = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    scans = -(-20 // GROUP_SLOS)  # 10 consumers x 2 SLOs over 400 endpoints: groups of at most GROUP_SLOS
    assert f"{scans} scans; cells identical for 4/4 SLOs" in proc.stdout


def test_result_row_benchmark_smoke(tmp_path: Path) -> None:
    """benchmarks/result_row.py beside a baseline (here: the same results.py) reports every variant."""
    script = RUN.parent / "result_row.py"
    baseline = RUN.parent.parent / "slowatch" / "store" / "results.py"
    cmd = [sys.executable, str(script), "--rows", "200", "--repeat", "1", "--baseline", str(baseline)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("µs CPU per row") == 9
    assert "stored phases: 27 bytes binary, 96 bytes" in proc.stdout  # phases format 2


def test_daybars_benchmark_smoke(tmp_path: Path) -> None:
    """benchmarks/daybars.py beside a baseline (here: the same daybars.py): both draw the same bars."""
    script = RUN.parent / "daybars.py"
    baseline = RUN.parent.parent / "slowatch" / "slo" / "daybars.py"
    cmd = [sys.executable, str(script), "--endpoints", "3", "--days", "2", "--repeat", "1", "--baseline", str(baseline)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("ms CPU per endpoint") == 2, proc.stdout


def test_consumer_daybars_and_newest_cell_benchmarks_smoke(tmp_path: Path) -> None:
    """benchmarks/daybars.py --consumer and benchmarks/slo_newest.py: both ways agree and are reported."""
    cmd = [sys.executable, str(RUN.parent / "daybars.py"), "--consumer", "--endpoints", "6", "--days", "3",
           "--draw", "2", "--repeat", "1"]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 drawn (4 left out" in proc.stdout and proc.stdout.count("s CPU") == 2, proc.stdout
    cmd = [sys.executable, str(RUN.parent / "slo_newest.py"), "--slos", "3", "--days", "2", "--repeat", "1"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("ms CPU") == 2, proc.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    ("script", "args", "says", "counts"),
    [
        pytest.param(  # beside a baseline checkout (here: this one), it reports every case
            "block_encode.py", ["--number", "20", "--repeat", "1", "--baseline", str(RUN.parent.parent)],
            ["ok10       10"], {"x   ": 7}, id="block_encode",
        ),
        pytest.param(  # it builds every way's blocks (checked equal to blocks.encode's) and prices them
            "pack_readback.py", ["--endpoints", "200", "--rate", "4", "--minutes", "20", "--repeat", "1"],
            ["4,800 rows in"], {" µs": 5}, id="pack_readback",
        ),
        pytest.param(  # it runs store_writer.py with the intake in its commit hook and reports what it holds
            "pack_intake.py", ["--endpoints", "200", "--rate", "10", "--minutes", "10", "--warmup", "20"],
            ["total:", "the intake at the end: 12,000 rows in records, 400 open blocks"], {}, id="pack_intake",
        ),
    ],
)  # fmt: skip
def test_block_benchmark_smoke(
    tmp_path: Path, script: str, args: list[str], says: list[str], counts: dict[str, int]
) -> None:
    """benchmarks/block_encode.py, pack_readback.py and pack_intake.py run and report what they measure."""
    cmd = [sys.executable, str(RUN.parent / script), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for text in says:
        assert text in proc.stdout, proc.stdout
    for text, n in counts.items():
        assert proc.stdout.count(text) == n, proc.stdout


@pytest.mark.slow
def test_store_writer_benchmark_smoke() -> None:
    """benchmarks/store_writer.py drives the store's Writer: its folds come from memory (`--fold sql`: never)."""
    script = RUN.parent / "store_writer.py"
    args = ["--endpoints", "300", "--rate", "60", "--minutes", "10", "--pack-after", "60", "--fold-every", "60"]
    runs = {  # three runs at once: each writes a database in a temporary directory of its own
        "memory": [*args, "--fold", "memory", "--sql-profile"],
        "sql": [*args, "--fold", "sql"],
        "reads": [*args, "--reads", "3", "--group", "20"],
    }
    procs = {name: subprocess.Popen([sys.executable, str(script), *argv], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True) for name, argv in runs.items()}  # fmt: skip
    try:
        done = {name: (*p.communicate(timeout=120), p.returncode) for name, p in procs.items()}
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
    for name, (out, err, code) in done.items():
        assert code == 0, (name, out + err)
    for fold, figures in (("memory", "since start 23 from memory, 1 in SQL"), ("sql", "0 from memory, 24 in SQL")):
        out = done[fold][0]
        assert figures in out and "rows packed since start" in out, out
        assert "of which system time" in out, out
    out = done["memory"][0]  # the statements the writer runs, timed
    assert "calls  MANY INSERT INTO results" in out and "calls  COMMIT" in out, out
    out = done["reads"][0]
    assert "history of 3 endpoints" in out and "recent rows of 20 endpoints" in out, out


def test_store_batch_benchmark_smoke() -> None:
    """benchmarks/store_batch.py: the batch path and one fold from memory (it checks the memory stayed armed)."""
    script = RUN.parent / "store_batch.py"
    cmd = [sys.executable, str(script), "--endpoints", "300", "--rate", "100", "--batches", "12"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "µs CPU per result; one fold of 600 results from memory" in proc.stdout, proc.stdout


@pytest.mark.slow
def test_held_pages_benchmark_smoke() -> None:
    """benchmarks/held_pages.py: the series `slowatch_endpoint_suppressed` exports in each scene."""
    cmd = [sys.executable, str(RUN.parent / "held_pages.py"), "--endpoints", "2000", "--repeat", "1"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    counts = [line.split()[-2] for line in proc.stdout.splitlines() if line.endswith(" series")]
    assert counts == ["0", "100", "990", "2000"], proc.stdout


def test_pages_benchmark_smoke() -> None:
    """benchmarks/pages.py on a small consumer: every page fetched, figures printed, the pages gzipped."""
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "pages.py"
    args = ["--endpoints", "20", "--slos", "4", "--hours", "2", "--repeat", "1"]
    proc = subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = {line.split()[0]: line.split() for line in proc.stdout.splitlines() if line.startswith("/")}
    assert len(rows) == 7 and rows["/consumers/big"][2] != "-", proc.stdout


@pytest.mark.slow
def test_soak_days_smoke(tmp_path: Path) -> None:
    """benchmarks/soak_days.py (weeks on a FakeClock) still runs: 3 simulated days of 20 endpoints, a reload,
    the annotation and correction APIs, and what it measures at each checkpoint."""
    out = tmp_path / "soak.json"
    script = RUN.parent / "soak_days.py"
    args = ["--days", "3", "--endpoints", "20", "--checkpoints", "2", "--workdir", str(tmp_path / "w"), "--json"]
    proc = subprocess.run([sys.executable, str(script), *args, str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(out.read_text())
    assert report["reloads"] >= 1 and report["failed_api"] == 0
    (row,) = report["rows"]
    assert row["day"] == 2 and row["tables"]["results"] > 0 and row["tables"]["annotations"] == 2
    assert row["memory"]["latest"] == 20 and row["memory"]["slo_counters"] == 4

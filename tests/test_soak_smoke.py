"""The soak benchmark's diagnosis switches (benchmarks/soak.py --trace, --diag) still work end to end:
a few seconds of the real daemon with one prober worker, per-process RSS rows and each process's GC,
heap and SQLite figures, and what a full collection found."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SOAK = Path(__file__).resolve().parent.parent / "benchmarks" / "soak.py"


@pytest.mark.slow
def test_soak_trace_and_diag(tmp_path: Path) -> None:
    trace, work = tmp_path / "trace.jsonl", tmp_path / "work"
    args = ["--duration", "12", "--warmup", "1", "--healthy", "3", "--flappers", "0", "--no-hostile",
            "--no-reloads", "--no-sink-flap", "--settle", "10", "--diag", "2", "--diag-collect", "types",
            "--trace", str(trace), "--workdir", str(work), "--json"]  # fmt: skip
    proc = subprocess.run([sys.executable, str(SOAK), *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout[proc.stdout.index("{") :])
    assert report["config_writes"] == 0 and set(report["receiver_modes"]) <= {"ok"}

    rows = [json.loads(line) for line in trace.read_text().splitlines()]
    assert rows[-1]["t"] == "end" and len(rows) >= 2
    for row in rows:
        assert sorted(p["role"] for p in row["procs"]) == ["daemon", "worker"]
        assert all(p["rss_mb"] > 10 and 0 < p["anon_mb"] < p["rss_mb"] for p in row["procs"])

    diag = {f.name.split("-")[0]: f for f in (work / "diag").glob("*.jsonl")}
    assert sorted(diag) == ["daemon", "worker"]  # not the short-lived config loader processes
    daemon = [json.loads(line) for line in diag["daemon"].read_text().splitlines()]
    assert daemon, "the daemon logged no diagnosis"
    last = daemon[-1]
    assert len(last["gen_sizes"]) == 3 and last["malloc_used_mb"] > 1 and last["sqlite_mb"] > 0
    assert last["collected"] >= 0 and isinstance(last["types"], list)
    worker = json.loads(diag["worker"].read_text().splitlines()[-1])
    assert "sqlite_mb" not in worker or worker["sqlite_mb"] == 0  # the worker has no database


def test_the_diagnosis_starts_no_process(tmp_path: Path) -> None:
    """Each diagnosis row (every --diag seconds, in the daemon and in each worker) looked libc up with
    ctypes.util.find_library, which runs `ldconfig -p` in a child: the daemon's trace row then listed that
    fork of it as a second worker (seen with the suite on two workers, the machine loaded)."""
    path = SOAK.parent / "soak_diag" / "sitecustomize.py"
    probe = textwrap.dedent(f"""
        import importlib.util, sys
        spec = importlib.util.spec_from_file_location("soak_diag", {str(path)!r})
        diag = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(diag)
        started = []
        sys.addaudithook(lambda event, args: started.append(event) if event in
                         ("subprocess.Popen", "os.fork", "os.forkpty", "os.posix_spawn", "os.exec") else None)
        figures = diag._c_figures()
        print(sorted(figures), started)
    """)
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "['malloc_free_mb', 'malloc_used_mb', 'mmapped_mb'] []", proc.stdout

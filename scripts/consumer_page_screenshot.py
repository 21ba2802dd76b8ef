"""Regenerate docs/consumer-page.png (the README's picture) from `slowatch demo`, in headless chromium.

    .venv/bin/python scripts/consumer_page_screenshot.py [--out docs/consumer-page.png] [--wait 900]

Starts the demo on free ports with a throwaway database, waits until the checkout consumer's SLOs have
collected enough probes to draw their burn-downs (~7 minutes: 200 probes for 99.5 %), takes a 1100 px wide
screenshot of /consumers/checkout with chromium's own `--headless --screenshot`, stops the demo with
SIGINT (a clean stop) and shrinks the PNG with pngquant and optipng when they are installed
(`apt-get install pngquant optipng`): ~100 KB instead of ~200 KB.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONSUMER = "checkout"


def status_page(demo: subprocess.Popen[bytes], log: Path) -> str:
    """The demo's first line names its status page: 'slowatch demo: platform on ..., status page http://.../'.
    (Its output goes to a file: a pipe nobody reads would fill with its live table and stall it.)"""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and demo.poll() is None:
        found = re.search(r"status page (http://\S+/)", log.read_text(errors="replace"))
        if found:
            return found.group(1)
        time.sleep(0.2)
    raise SystemExit(f"the demo did not name its status page (exit {demo.poll()}): see {log}")


def collecting(base: str) -> bool:
    """Whether any of the consumer's SLOs has no data or too few probes yet to draw a burn-down."""
    with urllib.request.urlopen(f"{base}api/v1/consumers", timeout=10) as response:
        consumers = json.load(response)["consumers"]
    [doc] = [c for c in consumers if c.get("name") == CONSUMER]
    states = [slo.get("state") for slo in doc.get("slos", [])]
    return not states or any(state in ("too_few_events", "no_data") for state in states)


def shrink(png: Path) -> None:
    if shutil.which("pngquant"):
        subprocess.run(
            ["pngquant", "--force", "--skip-if-larger", "--quality=70-95", "--output", png, png], check=False
        )
    if shutil.which("optipng"):
        subprocess.run(["optipng", "-quiet", "-o2", png], check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "consumer-page.png")
    parser.add_argument("--wait", type=float, default=900, help="seconds to wait for the burn-downs at most")
    parser.add_argument("--height", type=int, default=2200, help="the window's height: what the picture shows")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium is not installed (apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="slowatch-screenshot-") as tmp:
        log = Path(tmp) / "demo.log"
        with log.open("wb") as out:
            demo = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "slowatch",
                    "demo",
                    "--db",
                    f"{tmp}/demo.db",
                    "--duration",
                    f"{args.wait + 120:g}",
                ],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            base = status_page(demo, log)
            deadline = time.monotonic() + args.wait
            while collecting(base):
                if time.monotonic() > deadline:
                    raise SystemExit(f"{CONSUMER}'s SLOs still collect data after {args.wait:g} s")
                time.sleep(10)
            shot = Path(tmp) / "page.png"
            subprocess.run(
                [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
                 f"--user-data-dir={tmp}/chromium", f"--window-size=1100,{args.height}", f"--screenshot={shot}",
                 f"{base}consumers/{CONSUMER}"],
                check=True, capture_output=True, timeout=120,
            )  # fmt: skip
        finally:
            demo.send_signal(signal.SIGINT)
            demo.wait(timeout=60)
        shrink(shot)
        shutil.copyfile(shot, args.out)
    print(f"{args.out}: {args.out.stat().st_size // 1024} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`python -m slowatch.workers --fd N --index I`: a prober worker (started by the daemon, not by hand)."""

from __future__ import annotations

import argparse
import signal

# Ignored from before the imports (child.main says why): a worker (re)started moments before a SIGHUP to every
# slowatch process would still be importing, and die of it.
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGHUP, signal.SIG_IGN)

from slowatch.workers.child import main  # noqa: E402

parser = argparse.ArgumentParser(prog="python -m slowatch.workers", description=__doc__)
parser.add_argument("--fd", type=int, required=True, help="the inherited socket to the daemon")
parser.add_argument("--index", type=int, default=0)
parser.add_argument("--log-format", default="text", choices=("text", "json"))
parser.add_argument("--log-level", default="INFO")
parser.add_argument("--loop", default="auto", choices=("auto", "asyncio", "uvloop"))
args = parser.parse_args()
main(args.fd, args.index, args.log_format, args.log_level, args.loop)

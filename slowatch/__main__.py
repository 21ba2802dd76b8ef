"""The command line's entry: `python -m slowatch` and the installed `slowatch` command (pyproject.toml).

For `run`, SIGHUP is ignored from here on, before the imports (most of a second): its default action ends
the process, and a reload requested while the daemon starts (a config tool, `systemctl reload`) killed it.
Daemon.run takes SIGHUP over (one reload once started); a changed file is also picked up by the watcher.
"""

import signal
import sys


def main() -> int:
    if sys.argv[1:2] == ["run"]:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    from slowatch.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())

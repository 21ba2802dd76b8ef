import signal
import sys

if sys.argv[1:2] == ["run"]:  # a reload request (SIGHUP) while the daemon starts must not end it (its default
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # action): ignored until Daemon.run takes it over

from slowatch.cli import main  # (after the line above: importing it takes most of a second)

sys.exit(main())

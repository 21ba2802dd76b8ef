# Shortcuts for scripts/dev (which works without make, too).
.PHONY: run test bench
run:
	scripts/dev run
test:
	scripts/dev test
bench:
	.venv/bin/python benchmarks/run.py

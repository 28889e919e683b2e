"""``python -m benchmarks.active_learning``: the command (see :mod:`.cli`)."""

from benchmarks.active_learning.cli import main

if __name__ == "__main__":
    raise SystemExit(main())

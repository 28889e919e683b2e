"""``python -m benchmarks.quality``: the quality benchmark's command (see :mod:`.cli`)."""

from benchmarks.quality.cli import _cli

if __name__ == "__main__":
    _cli()

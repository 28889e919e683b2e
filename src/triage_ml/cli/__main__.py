"""``python -m triage_ml.cli``: the same as the ``triage-ml`` command."""

import sys

from triage_ml.cli import app

if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())

"""``python -m serve``: start the service with the TRIAGE_* settings (see README "Serving")."""

from __future__ import annotations

import sys

from triage_ml import MissingExtra, require_extra
from triage_ml.contract import ConfigError
from triage_ml.store import BundleError


def main() -> int:
    try:
        require_extra("serve", "python -m serve")
        from serve.server import configure, run

        settings = configure()
    except (ConfigError, BundleError, MissingExtra) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    run(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())

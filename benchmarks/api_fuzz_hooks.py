"""schemathesis hooks for ``python -m benchmarks.api_fuzz`` (``SCHEMATHESIS_HOOKS`` names this
module; schemathesis imports it before generating, which is when the hook is registered)."""

import schemathesis

from benchmarks.api_fuzz import make_ids_unique

schemathesis.hook("map_case")(make_ids_unique)

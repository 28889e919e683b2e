"""Where models live: the bundle on disk, MLflow tracking and registry, the MLflow pyfunc.

Importing this package never imports MLflow: ``tracking``, ``registry`` and ``pyfunc`` load it
when used.
"""

from triage_ml._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "Bundle": ".bundle",
        "BundleError": ".bundle",
        "convert_bundle": ".bundle",
        "load_bundle": ".bundle",
        "save_bundle": ".bundle",
        "verify_bundle": ".bundle",
        "log_bundle": ".tracking",
        "resolve_tracking_uri": ".tracking",
        "list_versions": ".registry",
        "load_registered": ".registry",
        "promote": ".registry",
        "register_run": ".registry",
        "registered_version": ".registry",
    },
)

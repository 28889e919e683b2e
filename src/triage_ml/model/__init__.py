"""The learned model: text normalisation, features, training and the fitted Triager.

Data flow: posts -> ``normalise`` (spaCy) -> ``features`` (TF-IDF, metadata, optional
embeddings) -> ``train.fit`` (calibrated per-label classifiers, thresholds, urgency) ->
``triager.Triager`` (probabilities, decisions and reasons for new posts).
"""

from triage_ml._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "Triager": ".triager",
        "LabelScores": ".triager",
        "fit": ".train",
        "split_history": ".train",
        "fit_stack": ".stack",
        "fit_urgency_blend": ".stack",
        "build_features": ".features",
        "SpacyNormaliser": ".normalise",
        "EXTRA_HINT": ".embeddings",
        "ONNX_MODEL": ".embeddings",
        "ONNX_PURPOSE": ".embeddings",
        "ONNX_MODULES": ".embeddings",
        "KNOWN_SHARE": ".language",
        "foreign": ".language",
        "known_share": ".language",
        "word_vocabulary": ".features",
    },
)

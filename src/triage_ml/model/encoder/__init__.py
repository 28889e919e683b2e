"""The fine-tuned sentence encoder: ``finetune`` trains it with torch and exports ONNX;
``ensemble`` merges several fine-tuned encoders into one averaging graph (or distils them into
one student); ``runtime`` scores with onnxruntime alone (no torch at scoring time)."""

from triage_ml._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "EncoderRuntime": ".runtime",
        "quantize_int8": ".runtime",
        "EncoderSettings": ".finetune",
        "fine_tune": ".finetune",
        "default_model_dir": ".finetune",
        "fine_tune_members": ".ensemble",
        "fine_tune_cross_fitted": ".ensemble",
        "merge_members": ".ensemble",
        "distil_student": ".ensemble",
    },
)

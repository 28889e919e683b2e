"""Scoring at scale: a file of any size streamed through a bundle in bounded memory, and a
partitioned Parquet dataset scored in parallel on Dask (docs/scale.md).

Spark needs nothing from here: it scores through the MLflow pyfunc model
(``mlflow.pyfunc.spark_udf``, docs/pipeline.md). Dask is the ``scale`` extra, imported only
when :func:`score_dataset_dask` runs.
"""

from triage_ml._lazy import lazy_exports

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "ScoreSummary": ".stream",
        "score_file": ".stream",
        "score_dataset_dask": ".on_dask",
    },
)

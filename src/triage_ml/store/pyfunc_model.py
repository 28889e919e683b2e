"""The MLflow "model from code" of a triage-ml model: MLflow runs this file when it loads one.

:func:`triage_ml.store.tracking.log_bundle` logs this file as the pyfunc model's code and the
bundle as its artifact, so the logged model holds no pickled Python object (no
``python_model.pkl``): loading it runs this installed code, which verifies and loads the bundle
(data only). Nothing imports this module; it is a script for MLflow.
"""

from mlflow.models import set_model

from triage_ml.store.pyfunc import TriagePyfunc

set_model(TriagePyfunc())

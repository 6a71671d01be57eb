"""The Python API: estimators fitted on arrays, generation and evaluation.

Everything here reuses the CLI's machinery (the same training, run folders
and evaluation); see README "Python API".
"""

from privshare.api.estimators import LocalGAN, NotFittedError, PrivGAN
from privshare.api.evaluation import EvaluationResult, evaluate

__all__ = ["EvaluationResult", "LocalGAN", "NotFittedError", "PrivGAN", "evaluate"]

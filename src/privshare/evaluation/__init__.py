"""Utility (train on a source, test on real rows) and image quality, plus the settings.

Attacks live in :mod:`privshare.attacks`; :func:`privshare.experiments.evaluate.evaluate_run`
runs both on a saved run and writes the results.
"""

from privshare.evaluation.classifier import ReferenceCNN, embed, predict, train_classifier
from privshare.evaluation.config import (
    ATTACK_SOURCES,
    UTILITY_SOURCES,
    EvalConfig,
    EvaluationError,
    eval_config_from_dict,
    eval_config_to_dict,
    load_eval_config,
)
from privshare.evaluation.quality import frechet_distance, frechet_from_moments, precision_recall
from privshare.evaluation.summary import Table, summarise_rows, summary_tables
from privshare.evaluation.utility import UtilityResult, training_sets, utility_evaluation

__all__ = [
    "ATTACK_SOURCES",
    "UTILITY_SOURCES",
    "EvalConfig",
    "EvaluationError",
    "ReferenceCNN",
    "Table",
    "UtilityResult",
    "embed",
    "eval_config_from_dict",
    "eval_config_to_dict",
    "frechet_distance",
    "frechet_from_moments",
    "load_eval_config",
    "precision_recall",
    "predict",
    "summarise_rows",
    "summary_tables",
    "train_classifier",
    "training_sets",
    "utility_evaluation",
]

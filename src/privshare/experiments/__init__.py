"""Configured experiments: one run, and (later) sweeps and their result store."""

from privshare.experiments.run import (
    RunExistsError,
    export_synthetic,
    prepare_data,
    run_experiment,
)

__all__ = ["RunExistsError", "export_synthetic", "prepare_data", "run_experiment"]

"""A run folder is worked on by one process at a time; a foreign folder is never written into."""

from __future__ import annotations

import pytest

from privshare.artifacts import RunLayout
from privshare.artifacts.lock import exclusive
from privshare.config import load_config
from privshare.evaluation import EvaluationError
from privshare.experiments import RunExistsError, run_experiment
from privshare.experiments.evaluate import evaluate_run
from tests.evaluation.helpers import FAST, make_tiny_run


def test_a_second_process_on_a_run_folder_is_refused(tmp_path):
    run = make_tiny_run(tmp_path, methods=("privgan",))
    config = load_config(preset="tiny", overrides=[f'out_dir="{tmp_path}"', 'name="t"',
                                                   'train.methods=["privgan"]'])
    with exclusive(RunLayout(run.root).lock, lambda: RuntimeError("held")):  # "another process"
        with pytest.raises(RunExistsError, match="another privshare process is training or evaluating"):
            run_experiment(config)
        with pytest.raises(EvaluationError, match="another privshare process"):
            evaluate_run(run, config=FAST)
        evaluate_run(run, config=FAST, write=False)  # reading needs no lock
    run_experiment(config)  # released: the finished run is found again


def test_a_foreign_folder_gets_no_lock_file(tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("not a run")
    config = load_config(preset="tiny", overrides=[f'out_dir="{tmp_path}"', 'name="mine"'])
    with pytest.raises(RunExistsError, match="is not a privshare run"):
        run_experiment(config)
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]

"""Classifiers trained while privGAN still trains: the same numbers, never trained twice."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest
import torch

from privshare.config import load_config
from privshare.evaluation import utility
from privshare.experiments import run_experiment
from privshare.experiments.evaluate import Ahead, evaluate_ahead, evaluate_run
from tests.evaluation.helpers import FAST

SETTINGS = replace(FAST, seeds=(0, 1), utility_sources=("real_own", "gan", "own+gan", "privgan"))


@pytest.fixture
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # what a lane uses, so sums run in the same order
    yield
    torch.set_num_threads(threads)


def test_a_lane_that_finishes_first_trains_the_classifiers_its_models_allow(tmp_path, one_thread):
    seen = []

    def hook(run, done):
        seen.append((run.methods, done.is_set()))
        seen.append(evaluate_ahead(run, config=SETTINGS, done=done))

    config = load_config(preset="tiny", overrides=[
        f'out_dir="{tmp_path}"', 'name="a"', "train.concurrent_methods=true",
        "train.epochs_privgan=60", "train.epochs_gan=1"])
    run = run_experiment(config, while_waiting=hook)
    (methods, was_done), ahead = seen
    assert methods == ("gan",) and not was_done  # privGAN was still training
    kinds = {key[1:3] for key in ahead.results}
    assert ("features",) in {k[1:2] for k in ahead.results}
    assert kinds <= {("features",), ("real_own", "0"), ("real_own", "1"), ("gan", "0"),
                     ("gan", "1"), ("own+gan", "0"), ("own+gan", "1")}
    assert not any(k[1] == "privgan" for k in ahead.results)

    calls = []
    fit = utility.fit_source
    monkey = pytest.MonkeyPatch()
    monkey.setattr(utility, "fit_source", lambda **kw: calls.append(kw["name"]) or fit(**kw))
    try:
        with_ahead = evaluate_run(run, config=SETTINGS, ahead=ahead, write=False)
    finally:
        monkey.undo()
    fresh = evaluate_run(run, config=SETTINGS, write=False)
    assert with_ahead.rows == fresh.rows
    done_ahead = [k for k in ahead.results if k[1] != "features"]
    assert len(calls) == 2 * 8 - len(done_ahead)  # 4 sources x 2 owners a seed, once each


def test_work_ahead_stops_when_told_and_is_ignored_under_other_settings(tmp_path, one_thread):
    from tests.evaluation.helpers import make_tiny_run

    run = make_tiny_run(tmp_path)
    done = threading.Event()
    done.set()
    assert evaluate_ahead(run, config=SETTINGS, done=done).results == {}
    ahead = evaluate_ahead(run, config=SETTINGS, done=threading.Event())
    other = replace(SETTINGS, seeds=(1,))
    assert (1, "features") in ahead.results
    bogus = Ahead(config=SETTINGS, results={k: None for k in ahead.results})
    # a mismatch of settings: nothing of ahead is used (None results would break the rows)
    ev = evaluate_run(run, config=other, ahead=bogus, write=False)
    assert {r["seed"] for r in ev.rows} == {1}

"""benchmarks.paired_gain: differences paired by (training seed, evaluation seed)."""

from __future__ import annotations

from benchmarks.paired_gain import table


def test_gains_are_paired_by_run_and_evaluation_seed():
    values = {}
    for run, base in (("a", 0.90), ("b", 0.95)):  # runs differ by far more than the gain
        for seed, noise in ((0, 0.0), (1, 0.02)):
            values[(run, seed, "real_own", "0")] = base + noise
            values[(run, seed, "x>own", "0")] = base + noise + 0.01
    lines = table(values, runs=["a", "b"], sources=["x>own", "missing"])
    assert len(lines) == 2 and "missing" not in "".join(lines)
    gain = lines[1]
    # every pair gains exactly 0.01: the interval collapses on it, whatever the spread of runs
    assert "gain +0.0100 [+0.0100, +0.0100] over 4 pairs" in gain
    assert "over 2 runs" in gain
    assert lines[0].startswith("owner 0  real_own") and "accuracy 0.9350" in lines[0]


def test_a_single_pair_has_no_interval():
    values = {("a", 0, "real_own", "1"): 0.9, ("a", 0, "x>own", "1"): 0.8}
    line = table(values, runs=["a"], sources=["x>own"])[1]
    assert "gain -0.1000 over 1 pairs, -0.1000 over 1 runs" in line

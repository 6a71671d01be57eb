"""The per-owner answer: best option, paired gain with its interval, strongest shared attack."""

from __future__ import annotations

import pytest

from privshare.reports.answer import estimate, owner_answers


def _row(source, owner, seed, metric, value, n=None):
    return {"source": source, "owner": owner, "eval_seed": seed, "metric": metric,
            "class": "all", "value": value, "n": n}


def _rows(own, mixed, gan, *, attack=(0.52, 0.55, 0.51)):
    rows = []
    for seed, (a, b, c) in enumerate(zip(own, mixed, gan)):
        rows += [_row("real_own", "0", seed, "accuracy", a), _row("real_own", "0", seed, "frechet", 1.0, 1199),
                 _row("own+privgan_pooled", "0", seed, "accuracy", b),
                 _row("own+gan", "0", seed, "accuracy", c),
                 _row("privgan_pooled", "all", seed, "accuracy", b - 0.2)]
        for source, auc in zip(("privgan_central", "mc_privgan", "nn_privgan"), attack):
            rows += [_row(source, "0", seed, "auc", auc + 0.001 * seed),
                     _row(source, "0", seed, "tpr_at_fpr_1pct", 0.01 + 0.001 * seed)]
        rows.append(_row("privgan_d", "0", seed, "auc", 0.7))
    return rows


def test_a_gain_whose_interval_excludes_zero_is_called_better():
    own, mixed = [0.940, 0.945, 0.950], [0.955, 0.962, 0.966]
    (a,) = owner_answers(_rows(own, mixed, [0.93, 0.93, 0.93]))
    assert a.best == "own + privGAN rows" and a.options[a.best][0] == "own+privgan_pooled"
    diffs = [m - o for m, o in zip(mixed, own)]
    assert a.gain.mean == pytest.approx(sum(diffs) / 3)
    assert a.gain.lo > 0  # paired by seed: the shared seed-to-seed drift cancels
    assert a.rows == 1199
    assert "better than its own rows alone" in a.sentence()
    source, auc, tpr = a.attack
    assert source == "mc_privgan" and auc.mean == pytest.approx(0.551)  # strongest mean AUC
    assert tpr.mean == pytest.approx(0.011)
    assert a.local_attack.mean == pytest.approx(0.7)


def test_an_overlapping_gain_is_not_distinguishable_and_own_rows_can_win():
    (a,) = owner_answers(_rows([0.94, 0.95, 0.96], [0.955, 0.94, 0.96], [0.9, 0.9, 0.9]))
    assert a.best == "own + privGAN rows" and a.gain.lo < 0 < a.gain.hi
    assert "not distinguishable from" in a.sentence()
    (b,) = owner_answers(_rows([0.95, 0.95, 0.96], [0.90, 0.91, 0.92], [0.80, 0.8, 0.8]))
    assert b.best == "own rows alone" and b.gain is None
    assert "no shared option beats what it holds alone" in b.sentence()


def test_one_seed_has_no_interval_and_says_so():
    e = estimate([0.9])
    assert e.lo is None and e.text() == "0.900 (1 seed)"
    two = estimate([0.9, 1.0])
    assert two.lo < 0.9 and two.hi > 1.0  # t with 1 degree of freedom is wide


def test_a_sweep_gives_each_privgan_cell_its_owners_answers(fake_sweep):
    from privshare.reports.answer import cell_answers
    from privshare.reports.build import build_report
    from privshare.reports.results import load_results
    from tests.reports.conftest import FRACTIONS, utility

    res = load_results(fake_sweep / "results.sqlite")
    found = cell_answers(res.cells, res.rows)
    assert len(found) == len(FRACTIONS) ** 2  # every privGAN cell, no GAN cell
    for cell, answers in found:
        assert cell.method == "privgan" and [a.owner for a in answers] == ["0", "1"]
        own = answers[0].options["own rows alone"][1].mean
        assert own == pytest.approx(utility("real_own", cell.f0))
        # the local-GAN option comes from the GAN cell of the same fractions, where there is one
        assert ("local-GAN rows only" in answers[0].options) == (cell.f0 == cell.f1)
    page = build_report(fake_sweep / "results.sqlite").html.read_text()
    assert "Cell 5 % / 10 % (training seed 0): Owner 0" in page


def test_mirrored_cells_are_not_answered_twice(tmp_path):
    from privshare.reports.answer import cell_answers
    from privshare.reports.results import load_results
    from tests.reports.conftest import FRACTIONS, make_store

    res = load_results(make_store(tmp_path / "sym", symmetric=True) / "results.sqlite")
    found = cell_answers(res.cells, res.rows)
    assert sorted((c.f0, c.f1) for c, _ in found) == sorted(
        (a, b) for a in FRACTIONS for b in FRACTIONS if a <= b)

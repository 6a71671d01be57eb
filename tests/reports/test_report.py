"""Figures and report.html from a store with known numbers (no training)."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

from privshare.reports import build_report
from privshare.reports.results import ResultsError, load_results
from privshare.reports.sample_figures import mosaic

from .conftest import CLASSES, FRACTIONS, make_store, utility

EXPECTED = {"fig4_samples", "fig5_utility_heatmaps", "fig6_utility_vs_fraction",
            "fig7_attack_vs_fraction", "fig8_scores_class0", "fig8_scores_class1", "roc_attacks",
            "privacy_utility"}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = make_store(tmp_path_factory.mktemp("s") / "sweep", symmetric=True)
    return root, build_report(root)


def test_every_figure_is_drawn_as_png_and_svg(built):
    _, report = built
    assert {f.name for f in report.figures} == EXPECTED and report.skipped == {}
    for f in report.figures:
        assert f.png.stat().st_size > 5_000 and f.png.read_bytes()[:4] == b"\x89PNG"
        assert f.svg.read_text().lstrip().startswith("<?xml")


def test_heatmaps_of_cells_on_one_line_are_drawn_without_shading(tmp_path):
    # (5, 20), (20, 5), (10, 10) % lie on one line in log space: no triangle to shade
    root = make_store(tmp_path / "line", privgan_cells=[(0.05, 0.2), (0.2, 0.05), (0.1, 0.1)])
    report = build_report(root)
    heat = next(f for f in report.figures if f.name == "fig5_utility_heatmaps")
    svg = heat.svg.read_text()
    assert svg.count("<image") == 1  # the colour bar only: no panel's interpolated shading
    assert f"{utility('privgan', 0.05, 0.2):.2f}" in svg  # each cell's figure is written on it


def test_axes_are_labelled_with_units(built):
    _, report = built
    svg = {f.name: f.svg.read_text() for f in report.figures}
    assert re.search(r"owner 0(&#39;|')s fraction \(%\)", svg["fig5_utility_heatmaps"])
    assert "accuracy on real test rows" in svg["fig5_utility_heatmaps"]  # the one shared colour bar
    assert svg["fig5_utility_heatmaps"].count("accuracy on real test rows") == 1
    assert svg["fig5_utility_heatmaps"].count("<image") == 4  # three shaded panels, the colour bar
    assert "random guess" in svg["fig7_attack_vs_fraction"]
    assert "false-positive rate (log)" in svg["roc_attacks"]
    # a row of white-box attacks on the owners' own D and a row on what crosses the boundary,
    # each with its attacks' own curves
    roc = svg["roc_attacks"]
    assert "never shared" in roc and "crosses the boundary" in roc
    for label in ("max over D_i", "central discriminator", "privGAN rows, Monte-Carlo",
                  "local-GAN rows, Monte-Carlo"):
        assert label in roc, label
    assert "attack advantage" in svg["privacy_utility"]
    for name, text in svg.items():
        if name != "fig4_samples":
            assert any(w in text for w in ("(%)", "rate", "probability", "accuracy")), name


def test_tables_hold_the_stored_numbers(built):
    root, report = built
    page = report.html.read_text()
    g1 = utility("privgan", 0.05, 0.2)  # owner 0 at 5% with owner 1 at 20%
    assert f"{g1:.3f}" in page
    assert "Symmetry check" in page and "mirror of privgan-0.05-0.1" in page
    assert re.search(r"<title>privshare report: fake</title>", page)


def test_page_is_self_contained(built):
    _, report = built
    page = report.html.read_text()
    srcs = re.findall(r'src="([^"]*)"', page)
    assert len(srcs) == len(EXPECTED) and all(s.startswith("data:image/png;base64,") for s in srcs)
    hrefs = re.findall(r'href="([^"]*)"', page)
    assert all(h.startswith("#") for h in hrefs)
    assert "<script" not in page and "<link" not in page


def test_results_loader_places_rows_on_the_grid(built):
    root, _ = built
    res = load_results(root)
    assert res.fractions == list(FRACTIONS) and res.classes == list(CLASSES)
    mirrored = res.select(source="privgan", mirrored=1, owner="1", f0=0.2, f1=0.05)
    assert len(mirrored) == 1 and mirrored[0]["owner_fraction"] == 0.05
    assert mirrored[0]["value"] == pytest.approx(utility("privgan", 0.05, 0.2))


def test_mosaic_puts_one_class_per_column():
    x = np.stack([np.full((8, 8), v, np.uint8) for v in (10, 20, 30, 40)])
    canvas = mosaic(x, np.array([0, 0, 1, 1]), per_class=2)
    assert canvas.shape == (18, 18)
    assert canvas[0, 0] == 10 and canvas[9, 0] == 20 and canvas[0, 9] == 30 and canvas[9, 9] == 40


def test_building_a_report_never_imports_torch(built):
    root, _ = built
    code = ("import sys; from privshare.reports import build_report; "
            f"build_report({str(root)!r}, out_dir={str(root / 'again')!r}); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch' "
            "or m.startswith('privshare.training')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_unknown_path_says_what_to_pass(tmp_path):
    with pytest.raises(ResultsError, match="neither a sweep folder"):
        load_results(tmp_path)


def test_a_single_run_folder_reports_from_its_metrics_files(tmp_path):
    """`privshare run` ends with a report of its own run folder (one cell, no grid figures)."""
    import csv
    import json

    from privshare.config import load_config
    from privshare.experiments import run_experiment

    from .conftest import _artifacts, _rows

    config = load_config(preset="tiny", overrides=[f'out_dir="{tmp_path}"', 'name="r"'])
    run = run_experiment(config)
    rows = _rows("privgan", 0.2, 0.4) + _rows("gan", 0.2, 0.4)
    with (run.root / "metrics.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["source", "owner", "seed", "metric", "class",
                                                "value", "n"])
        writer.writeheader()
        writer.writerows({"seed": r["eval_seed"], **{k: v for k, v in r.items() if k != "eval_seed"}}
                         for r in rows)
    (run.root / "scores.npz").write_bytes(_artifacts("privgan", 0.2, 0)["scores.npz"])
    (run.root / "metrics.json").write_text(json.dumps({"rows": len(rows)}))
    report = build_report(run.root)
    assert report.html == run.root / "report" / "report.html"
    names = {f.name for f in report.figures}
    assert {"fig4_samples", "roc_attacks", "privacy_utility", "fig8_scores_class0"} <= names
    assert "fig5 utility heatmaps" in report.skipped  # one grid point cannot make a heatmap
    res = load_results(run.root)
    assert res.kind == "run" and res.cells[0].f0 == 0.2 and len(res.rows) == len(rows)


def test_a_committed_run_folder_with_gzipped_metrics_reads_the_same(tmp_path):
    """Committed run folders keep metrics.json / metrics.csv gzipped; readers take either."""
    import gzip
    import json

    from privshare.artifacts.layout import RunLayout
    from privshare.config import load_config
    from privshare.experiments import run_experiment

    from .conftest import _rows

    config = load_config(preset="tiny", overrides=[f'out_dir="{tmp_path}"', 'name="g"'])
    root = run_experiment(config).root
    layout = RunLayout(root)
    assert not layout.evaluated
    rows = _rows("privgan", 0.2, 0.4)
    header = "source,owner,seed,metric,class,value,n\n"
    body = "".join(f"{r['source']},{r['owner']},{r['eval_seed']},{r['metric']},{r['class']},"
                   f"{r['value']},{r['n']}\n" for r in rows)
    doc = {"rows": len(rows), "seeds": [0]}
    layout.metrics_csv.write_text(header + body)
    layout.metrics_json.write_text(json.dumps(doc))
    plain = load_results(root)
    for path in (layout.metrics_csv, layout.metrics_json):
        gz = path.with_name(path.name + ".gz")
        gz.write_bytes(gzip.compress(path.read_bytes()))
        path.unlink()
    assert layout.evaluated and layout.read_metrics() == doc
    packed = load_results(root)
    assert packed.rows == plain.rows and len(packed.rows) == len(rows)
    assert packed.artifact(0, RunLayout.METRICS_JSON) == json.dumps(doc).encode()
    layout.metrics_json.with_name("metrics.json.gz").unlink()
    assert not layout.evaluated
    with pytest.raises(FileNotFoundError, match="metrics.json.gz"):
        layout.read_metrics()


def test_score_figures_skip_cells_still_pending(tmp_path):
    """A sweep in progress: the largest diagonal cell is not done, so the ROC and score
    panels come from the finished ones instead of an empty panel for it."""
    from privshare.experiments.store import ResultStore
    from privshare.reports.score_figures import _diagonal

    make_store(tmp_path)
    assert _diagonal(load_results(tmp_path)) == [0.2, 0.1, 0.05]
    with ResultStore(tmp_path / "results.sqlite") as store:
        store._con.execute("UPDATE cells SET status = 'pending' WHERE key = 'privgan-0.2-0.2'")
        store._con.commit()
    assert _diagonal(load_results(tmp_path)) == [0.1, 0.05]


def test_score_histograms_zoom_on_a_narrow_band_only():
    """Scores filling [0, 1] keep the paper's 50 bins on it; a regularised D's scores, all
    near 0.5, get 50 bins on their own range so members and non-members can be told apart."""
    from privshare.reports.results import ScoreSet
    from privshare.reports.score_figures import BINS, _bins

    wide = ScoreSet("privgan_d", "0", "0", {"members": np.array([0.05, 0.9]),
                                            "nonmembers": np.array([0.5])})
    assert np.array_equal(_bins(wide), BINS)
    narrow = ScoreSet("privgan_d", "0", "0", {"members": np.array([0.47, 0.49]),
                                              "nonmembers": np.array([0.48, 0.51])})
    bins = _bins(narrow)
    assert len(bins) == len(BINS) and bins[0] == 0.47 and bins[-1] == 0.51
    flat = ScoreSet("gan", "0", "0", {"members": np.array([0.5]), "nonmembers": np.array([0.5])})
    assert np.array_equal(_bins(flat), BINS)  # one value: nothing to zoom on
    empty = ScoreSet("gan", "0", "9", {"members": np.array([]), "nonmembers": np.array([])})
    assert np.array_equal(_bins(empty), BINS)  # an owner lacking the class

"""``privshare.evaluate``: the CLI's evaluation of a fitted model or a run folder, as records."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from privshare.api.estimators import _SyntheticModel
from privshare.api.settings import override_strings
from privshare.artifacts import Run, load_run
from privshare.data.arrays import check_test, check_xy, load_arrays
from privshare.evaluation import EvalConfig, load_eval_config, summary_tables
from privshare.experiments.evaluate import CSV_COLUMNS, evaluate_run
from privshare.experiments.run import prepare_data

TABLES = ("rows", "summary")  # what to_pandas / to_parquet / to_csv can write


@dataclass(frozen=True)
class EvaluationResult:
    """What :func:`evaluate` measured, as plain records.

    Attributes
    ----------
    folder : Path
        The run folder evaluated.
    config : EvalConfig
        The evaluation settings used.
    seeds : tuple of int
        Evaluation seeds.
    rows : list of dict
        Long rows, one per measurement: ``source, owner, seed, metric, class, value, n``.
    summary : list of dict
        Mean, sd and 95 % interval over seeds of every ``(source, owner, metric, class)``.
    files : dict of str to Path
        ``metrics_json``, ``metrics_csv``, ``scores`` in the run folder (empty when not written).
    """

    folder: Path
    config: EvalConfig
    seeds: tuple[int, ...]
    rows: list[dict[str, Any]]
    summary: list[dict[str, Any]]
    files: dict[str, Path] = field(default_factory=dict)

    def tables(self) -> dict[str, list[dict[str, str]]]:
        """The CLI's utility and privacy tables, ``{"utility": records, "privacy": records}``.

        Each record maps a column header to its printed cell.
        """
        out = {}
        for name, table in zip(("utility", "privacy"), summary_tables(self.summary)):
            out[name] = [dict(zip(table.headers, row)) for row in table.rows]
        return out

    def _records(self, table: str) -> list[dict[str, Any]]:
        if table not in TABLES:
            raise ValueError(f"table={table!r}: choose one of {', '.join(TABLES)}")
        return self.rows if table == "rows" else self.summary

    def to_pandas(self, table: str = "rows") -> Any:
        """``rows`` or ``summary`` as a pandas DataFrame (needs pandas, which privshare does not)."""
        try:
            import pandas as pd
        except ImportError as err:
            raise ImportError("to_pandas needs pandas, which is not installed: pip install "
                              "pandas, or use the records (.rows, .summary)") from err
        return pd.DataFrame.from_records(self._records(table))

    def to_parquet(self, path: str | Path, *, table: str = "rows") -> Path:
        """Write ``rows`` (columns as in metrics.csv) or ``summary`` as Parquet (pyarrow)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        records = self._records(table)
        columns = list(CSV_COLUMNS) if table == "rows" else list(records[0]) if records else []
        path = Path(path)
        pq.write_table(pa.table({c: [r.get(c) for r in records] for c in columns}), path)
        return path

    def to_csv(self, path: str | Path, *, table: str = "rows") -> Path:
        """Write ``rows`` (as metrics.csv) or ``summary`` as CSV."""
        records = self._records(table)
        columns = list(CSV_COLUMNS) if table == "rows" else list(records[0]) if records else []
        path = Path(path)
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows({k: ("" if r.get(k) is None else r[k]) for k in columns}
                             for r in records)
        return path


def _run_of(model_or_folder: _SyntheticModel | str | Path) -> Run:
    if isinstance(model_or_folder, _SyntheticModel):
        return model_or_folder._check_fitted("evaluate")
    if isinstance(model_or_folder, (str, Path)):
        return load_run(model_or_folder)
    raise TypeError(f"model_or_folder: expected a fitted PrivGAN / LocalGAN or a run folder, "
                    f"got {type(model_or_folder).__name__}")


def _with_test(run: Run, test: tuple[np.ndarray, np.ndarray]):
    """The run's training data with ``test`` as its test split."""
    x, y = check_xy(test, what="test")
    check_test(x, y, shape=run.image_shape, classes=run.classes)
    dataset = load_arrays(run.layout.data) if run.layout.data.is_file() \
        else prepare_data(run.config)[0]
    return replace(dataset, x_test=x, y_test=y)


def evaluate(
    model_or_folder: _SyntheticModel | str | Path,
    *,
    test: tuple[np.ndarray, np.ndarray] | None = None,
    preset: str | None = None,
    seeds: list[int] | tuple[int, ...] | None = None,
    write: bool = True,
    **settings: Any,
) -> EvaluationResult:
    """Utility, image quality and membership attacks of a fitted model or run folder.

    The same measurement as ``privshare evaluate RUN --preset PRESET --set
    key=value``.

    Parameters
    ----------
    model_or_folder : PrivGAN, LocalGAN, str or Path
        A fitted estimator, or any run folder (of the API or the CLI).
    test : (x, y), optional
        Real test rows ``(m, S, S)`` / ``(m,)``; default the run's own test
        split (given to ``fit``, or the configured dataset's).
    preset : str, optional
        Evaluation preset ``"tiny"``, ``"quick"`` or ``"paper"``; default the
        papers' settings (minutes on a CPU).
    seeds : sequence of int, optional
        Evaluation seeds (default the preset's).
    write : bool
        Also write metrics.json, metrics.csv and scores.npz into the run folder.
    **settings
        Evaluation settings (keys of ``EvalConfig``), e.g. ``samples=300``.

    Returns
    -------
    EvaluationResult

    Raises
    ------
    privshare.data.DataError
        Bad ``test`` arrays, naming them.
    privshare.evaluation.EvaluationError
        No test rows to evaluate on, or settings out of range.
    """
    run = _run_of(model_or_folder)
    config = load_eval_config(preset=preset, overrides=override_strings(settings, sections=False))
    dataset = None if test is None else _with_test(run, test)
    ev = evaluate_run(run, seeds=seeds, config=config, write=write, dataset=dataset)
    return EvaluationResult(folder=Path(run.root), config=ev.config, seeds=tuple(ev.seeds),
                            rows=ev.rows, summary=ev.summary(), files=dict(ev.files))

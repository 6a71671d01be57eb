"""privGAN and the local-GAN baseline as scikit-learn-style estimators on arrays.

An estimator's ``fit`` checks the owners' arrays, then trains through
:func:`privshare.experiments.run_experiment` into an ordinary run folder, so
``privshare evaluate`` / ``privshare generate`` read a run fitted here and
:meth:`PrivGAN.load` reads a run of ``privshare train``.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import weakref
from dataclasses import replace
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np

from privshare.api.progress import progress_bar
from privshare.api.settings import base_config, fitted_config, resolve_seed
from privshare.artifacts import ArtifactError, Run, load_run, save_npz_atomic
from privshare.config import RunConfig, save_config
from privshare.data.arrays import owner_fractions, owners_dataset
from privshare.experiments import run_experiment

log = logging.getLogger(__name__)


class NotFittedError(ValueError, AttributeError):
    """The estimator is used before :meth:`fit` (or :meth:`load`); as scikit-learn's."""


class _SyntheticModel:
    """Shared by :class:`PrivGAN` and :class:`LocalGAN`; ``_method`` is the trained method."""

    _method: ClassVar[str]

    def __init__(self, *, preset: str | None = "quick", random_state: int | None = 0,
                 folder: str | Path | None = None, progress: bool = True,
                 **overrides: Any) -> None:
        self.preset = preset
        self.random_state = random_state
        self.folder = folder
        self.progress = progress
        self.overrides = overrides

    def get_params(self) -> dict[str, Any]:
        """The constructor's arguments, ``overrides`` spread out as keywords."""
        return {"preset": self.preset, "random_state": self.random_state, "folder": self.folder,
                "progress": self.progress, **self.overrides}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # -- fitting ----------------------------------------------------------
    def fit(
        self,
        owners: Sequence[tuple[np.ndarray, np.ndarray]],
        *,
        test: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> Self:
        """Train on every owner's rows; return ``self``.

        Parameters
        ----------
        owners : sequence of (x, y)
            One pair per owner (at least 2): images ``(n_j, S, S)``, uint8 or
            floats in [0, 1] / [0, 255], and integer labels ``(n_j,)``. Every
            owner needs rows of every class; all images one size.
        test : (x, y), optional
            Real rows no owner holds, kept in the run folder so that
            ``privshare evaluate RUN`` can test classifiers on them.

        Returns
        -------
        self
            With ``run_``, ``folder_``, ``config_``, ``classes_``,
            ``n_owners_``, ``image_shape_`` and ``seed_`` set.

        Raises
        ------
        privshare.data.DataError
            Bad arrays, naming the argument (``owners[1] x``, ``test y``, ...),
            before anything is trained or written.
        privshare.config.ConfigError
            An unknown preset or setting, or a value out of range.
        """
        base = base_config(preset=self.preset, overrides=self.overrides, method=self._method)
        dataset, partition = owners_dataset(owners, config=base, test=test)
        seed = resolve_seed(self.random_state)
        root = self._new_folder()
        fractions = owner_fractions([len(i) for i in partition.owner_indices])
        config = fitted_config(base, dataset=dataset, fractions=fractions, root=root, seed=seed)
        partition = replace(partition, fractions=config.data.fractions, seed=seed)
        log.info("fitting %s on %d owners into %s", self._method, len(fractions), root)
        with progress_bar(self.progress) as bar:
            run = run_experiment(config, progress=bar, data=(dataset, partition))
        self._set_fitted(run, seed=seed)
        return self

    def _new_folder(self) -> Path:
        """The run folder of this fit: ``folder``, or a temporary one removed with ``self``."""
        if self.folder is not None:
            root = Path(self.folder)
            if root.exists() and (not root.is_dir() or any(root.iterdir())):
                raise ArtifactError(f"folder={str(root)!r} exists and is not empty; fit writes a "
                                    "new run: pass a new folder, or delete that one")
            return root
        parent = Path(tempfile.mkdtemp(prefix="privshare-"))
        self._cleanup = weakref.finalize(self, shutil.rmtree, parent, ignore_errors=True)
        return parent / "run"

    def _set_fitted(self, run: Run, *, seed: int) -> None:
        self.run_ = run
        self.folder_ = Path(run.root)
        self.config_: RunConfig = run.config
        self.classes_ = np.asarray(run.classes, dtype=np.int64)
        self.n_owners_ = run.owners
        self.image_shape_ = tuple(run.image_shape)
        self.seed_ = seed

    def _check_fitted(self, what: str) -> Run:
        run = getattr(self, "run_", None)
        if run is None:
            raise NotFittedError(f"{type(self).__name__}.{what}: this estimator is not fitted; "
                                 f"call fit(owners=[...]) or {type(self).__name__}.load(folder) "
                                 "first")
        return run

    # -- using a fitted model ---------------------------------------------
    def generate(self, *, owner: int, n: int, random_state: int = 0
                 ) -> tuple[np.ndarray, np.ndarray]:
        """``n`` labelled synthetic rows per class from owner ``owner``'s generator.

        The same rows as ``privshare generate RUN --method M --owner OWNER
        -n N --seed RANDOM_STATE``.

        Parameters
        ----------
        owner : int
            Owner index, ``0 <= owner < n_owners_``.
        n : int
            Rows per class, at least 1.
        random_state : int
            Seed of the latent noise.

        Returns
        -------
        x : np.ndarray
            uint8 images ``(n * len(classes_), S, S)``.
        y : np.ndarray
            int64 labels ``(n * len(classes_),)``, ``n`` of each class in ``classes_`` order.
        """
        run = self._check_fitted("generate")
        if isinstance(owner, bool) or not isinstance(owner, (int, np.integer)) \
                or not 0 <= owner < run.owners:
            raise ValueError(f"owner={owner!r}: this model has owners 0..{run.owners - 1}")
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n={n!r}: ask for at least one row per class, e.g. n=100")
        return run.generate(self._method, int(owner), n_per_class=int(n), seed=int(random_state))

    def save(self, folder: str | Path) -> Path:
        """Copy the run folder to ``folder`` (which must not exist); return its path.

        The copy is a complete run folder: ``privshare evaluate`` and
        ``privshare generate`` read it and :meth:`load` loads it.
        """
        run = self._check_fitted("save")
        target = Path(folder)
        if target.exists():
            raise ArtifactError(f"folder={str(target)!r} exists; save into a new folder")
        shutil.copytree(run.root, target, ignore=shutil.ignore_patterns(".run.lock", "*.tmp"))
        if run.layout.data.is_file():  # the copy's config points at its own data
            copy = load_run(target)
            config = copy.config
            data = replace(config.data, path=str(copy.layout.data.resolve()))
            save_config(replace(config, data=data, name=target.name, out_dir=str(target.parent)),
                        copy.layout.config)
        return target

    @classmethod
    def load(cls, folder: str | Path, *, progress: bool = True) -> Self:
        """A fitted estimator from a run folder (of :meth:`save`, ``privshare train`` or ``run``).

        Raises
        ------
        privshare.artifacts.ArtifactError
            ``folder`` is not a run folder, or holds no models of this method.
        """
        run = load_run(folder)
        if cls._method not in run.methods:
            raise ArtifactError(
                f"folder={str(folder)!r} holds no {cls._method} models (trained: "
                f"{list(run.methods)}); load it with the estimator of one of those")
        model = cls(preset=None, random_state=run.config.seed, folder=folder, progress=progress)
        model._set_fitted(run, seed=run.config.seed)
        return model

    def export(self, path: str | Path, *, owner: int, n: int, random_state: int = 0) -> Path:
        """:meth:`generate`'s rows written as ``.npz`` (``x`` uint8, ``y`` int64), as the CLI writes them."""
        x, y = self.generate(owner=owner, n=n, random_state=random_state)
        path = Path(path)
        save_npz_atomic(path, x=x, y=y)
        return path


class PrivGAN(_SyntheticModel):
    """privGAN across data owners: per-class G_j, D_j for every owner and the central discriminator D_central.

    Parameters
    ----------
    preset : str or None
        Training preset, ``"tiny"`` (seconds, 8x8), ``"quick"`` or ``"paper"``;
        ``None`` = the library defaults.
    random_state : int or None
        Root seed of the run (``None``: drawn from the OS, kept in ``seed_``).
    folder : str or Path, optional
        Where the run folder is written (must be new or empty); default a
        temporary folder removed with the estimator (keep it with :meth:`save`).
    progress : bool
        Show a progress bar while training (terminal or notebook).
    **overrides
        Settings as ``section__key=value``, e.g. ``train__epochs_privgan=3``,
        ``model__latent_dim=8`` (the CLI's ``--set section.key=value``).

    Attributes
    ----------
    run_ : privshare.artifacts.Run
        The trained run folder.
    folder_ : Path
        Its path.
    config_ : RunConfig
        The resolved configuration (also in ``folder_/config.toml``).
    classes_ : np.ndarray
        int64 labels modelled, one generator each.
    n_owners_ : int
        Number of owners.
    image_shape_ : (int, int)
        ``(S, S)``.
    seed_ : int
        The run's seed.

    Examples
    --------
    >>> model = PrivGAN(preset="tiny", progress=False).fit(owners=[(x0, y0), (x1, y1)])
    >>> x, y = model.generate(owner=0, n=10)
    """

    _method = "privgan"


class LocalGAN(_SyntheticModel):
    """The baseline: one ordinary GAN per owner (per-class G_j, D_j), no central discriminator.

    Takes the same parameters and sets the same attributes as :class:`PrivGAN`;
    ``overrides`` set e.g. ``train__epochs_gan``.
    """

    _method = "gan"

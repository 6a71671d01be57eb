"""Names that changed when the central discriminator's prefix ``dp`` became ``central``.

``dp`` read as differential privacy, which only the DP-SGD baseline (method
``dpgan``, section ``[dpsgd]``) is. This is the one table of the renamed
names a person writes: settings keys, and attack sources and scorers (the
evaluation's ``attacks``, ``--metric SOURCE:METRIC``, the scorer registry).
Every loader refuses an old name with :func:`renamed_message`;
``python -m benchmarks.migrate_central_names`` rewrites stored results with
the same table.
"""

from __future__ import annotations

RENAMED_SETTINGS = {  # run-config key (section.key) -> its name now
    "train.dp_delay": "train.central_delay",
    "train.dp_pretrain_epochs": "train.central_pretrain_epochs",
}
RENAMED_ATTACKS = {  # attack source or scorer -> its name now
    "privgan_dp": "privgan_central",
    "dp_attribution": "central_attribution",
}


def renamed_message(old: str, *, what: str) -> str | None:
    """One line saying that ``old`` (a ``what``) was renamed and what to write; None if it was not."""
    new = RENAMED_SETTINGS.get(old) or RENAMED_ATTACKS.get(old)
    if new is None:
        return None
    return (f"{what} {old!r} was renamed {new!r} ('dp' named the central discriminator, not "
            f"differential privacy); write {new}")

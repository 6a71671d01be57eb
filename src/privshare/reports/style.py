"""Figure style: greyscale-readable lines, one save function (PNG + SVG).

Every series differs by marker AND line style, not only by colour, and the
colour map of heatmaps (cividis) is monotone in lightness, so the figures
read in black and white.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: never open a window

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

SVG_RC = {"svg.fonttype": "none",  # SVG text stays text: searchable, smaller
          "svg.hashsalt": "privshare"}  # stable element ids between builds
HEATMAP_CMAP = "cividis"
DPI = 120


@dataclass(frozen=True)
class FigureFile:
    """A saved figure and the words that go with it in the report."""

    name: str  # file stem
    title: str
    caption: str
    png: Path
    svg: Path


@dataclass(frozen=True)
class Series:
    """How one kind of result is drawn everywhere."""

    label: str
    color: str
    marker: str
    linestyle: str


SERIES = {
    "privgan": Series("privGAN (own generator)", "#1b5e20", "o", "-"),
    "privgan_pooled": Series("privGAN (all generators)", "#66bb6a", "s", "-."),
    "privgan_max": Series("privGAN, max over D_i", "#1b5e20", "o", "-"),
    "privgan_mean": Series("privGAN, mean over D_i", "#66bb6a", "s", "-."),
    "gan": Series("local GAN", "#b71c1c", "^", "--"),
    "real_own": Series("own real data", "#212121", "D", ":"),
    "own+privgan_pooled": Series("own real + all privGAN rows", "#0d47a1", "v", "-"),
    "privgan_pooled>own": Series("all privGAN rows, then own real", "#4a148c", "P", "-"),
    "gan>own": Series("local GAN rows, then own real", "#e65100", "X", "--"),
    "real_pooled": Series("all owners' real data", "#757575", "v", (0, (1, 3))),
    "privgan_central": Series("privGAN, central discriminator", "#0d47a1", "x", (0, (5, 2, 1, 2))),
    "mc_privgan": Series("privGAN rows, Monte-Carlo (black-box)", "#1b5e20", "d", (0, (3, 1))),
    "nn_privgan": Series("privGAN rows, nearest row (black-box)", "#66bb6a", "<", (0, (1, 1))),
    "mc_gan": Series("local-GAN rows, Monte-Carlo (black-box)", "#b71c1c", ">", (0, (3, 1))),
    "nn_gan": Series("local-GAN rows, nearest row (black-box)", "#e57373", "h", (0, (1, 1))),
}
HIST = {  # score distributions: hatch and outline so they survive greyscale
    "members": {"color": "#c62828", "hatch": "///", "label": "members (training rows)"},
    "nonmembers": {"color": "#1565c0", "hatch": "", "label": "non-members (held out)"},
    "other": {"color": "#2e7d32", "hatch": "..", "label": "other owner's members"},
}


def series(name: str) -> Series:
    return SERIES.get(name, Series(name, "#424242", "*", "-"))


def line_kwargs(name: str) -> dict:
    s = series(name)
    return {"label": s.label, "color": s.color, "marker": s.marker, "linestyle": s.linestyle,
            "markersize": 5, "linewidth": 1.4, "markerfacecolor": "white"}


percent = FuncFormatter(lambda v, _: f"{100 * v:g}")


def fraction_axis(ax, which: str = "x", *, label: str = "owner's fraction of each class (%)",
                  ticks: list[float] | None = None, pad: float = 1.15) -> None:
    """Log axis of owner fractions, ticks at ``ticks`` written in percent."""
    getattr(ax, f"set_{which}scale")("log")
    axis = ax.xaxis if which == "x" else ax.yaxis
    if ticks:
        getattr(ax, f"set_{which}ticks")(ticks)
        getattr(ax, f"set_{which}lim")(min(ticks) / pad, max(ticks) * pad)
    axis.set_major_formatter(percent)
    axis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    getattr(ax, f"set_{which}label")(label)


def new_figure(*, ncols: int = 1, nrows: int = 1, width: float = 4.2, height: float = 3.3,
               **kwargs) -> tuple[Figure, object]:
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows),
                             squeeze=False, layout="constrained", **kwargs)
    return fig, axes


def save_figure(fig: Figure, out_dir: Path, name: str, *, title: str, caption: str) -> FigureFile:
    """Write ``name``.png and ``name``.svg into ``out_dir``; close the figure."""
    out_dir.mkdir(parents=True, exist_ok=True)
    png, svg = out_dir / f"{name}.png", out_dir / f"{name}.svg"
    fig.savefig(png, dpi=DPI)
    with matplotlib.rc_context(SVG_RC):
        fig.savefig(svg, metadata={"Date": None})  # no timestamp: same input, same file
    plt.close(fig)
    return FigureFile(name=name, title=title, caption=caption, png=png, svg=svg)

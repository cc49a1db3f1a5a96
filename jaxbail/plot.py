"""Figures from sweep results: regret curves with theory overlays, regret against eps, eta and C, posteriors."""

from __future__ import annotations

import csv
import io
import json
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["load_table", "plot_results", "regret_panel", "regret_curves", "curve_from_result", "curve_from_summary",
           "final_regret_against", "posterior_mass", "style", "pyplot", "save_figure", "PlotInputError"]


class PlotInputError(ValueError):
    """A results table that cannot be plotted (empty, header only, not a jaxbail table, bad values)."""

LINESTYLES = ["-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1))]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]


def pyplot():
    """``matplotlib.pyplot``, on the non-interactive Agg backend outside a notebook kernel."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=False) if not _interactive() else None
        import matplotlib.pyplot as plt
    except ImportError:  # pragma: no cover - exercised only without the extra
        raise RuntimeError("plotting needs matplotlib (a dependency of jaxbail): pip install matplotlib") from None
    return plt


def _interactive() -> bool:
    import sys

    return "ipykernel" in sys.modules


def style(i: int) -> dict[str, Any]:
    """Line style ``i``: distinguishable in grey scale (line pattern and marker, graded luminance)."""
    grey = 0.75 * (i % 4) / 3.0
    return {"linestyle": LINESTYLES[i % len(LINESTYLES)], "marker": MARKERS[i % len(MARKERS)],
            "color": (grey, grey, grey) if i % 2 == 0 else _viridis(i), "markevery": 0.15, "markersize": 4}


def _viridis(i: int):
    import matplotlib

    return matplotlib.colormaps["viridis"]((i * 0.37) % 0.9)


def _float(x: str) -> float:
    return float(x) if x not in ("", "None") else float("nan")


def load_table(results: str | Path) -> "OrderedDict[str, dict[str, Any]]":
    """Cells of a sweep's ``results.csv`` (a directory or the file): per cell its labels and curves."""
    path = Path(results)
    if path.is_dir():
        path = path / "results.csv"
    if not path.exists():
        raise FileNotFoundError(f"no results table at {str(path)!r} (run `jaxbail sweep` first)")
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as err:
        raise PlotInputError(f"cannot read {str(path)!r}: {err.strerror or err}") from None
    except UnicodeDecodeError as err:
        raise PlotInputError(f"{str(path)!r} is not UTF-8 text (invalid byte at offset {err.start}); "
                             "expected a jaxbail results.csv") from None
    from jaxbail.sweep import TABLE_COLUMNS

    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        header = reader.fieldnames
    except csv.Error as err:
        raise PlotInputError(f"{str(path)!r} is not a CSV table: {err}") from None
    if not header:
        raise PlotInputError(f"{str(path)!r} is empty; expected a jaxbail results.csv (run `jaxbail sweep`)")
    missing = [c for c in TABLE_COLUMNS if c not in header]
    if missing:
        raise PlotInputError(f"{str(path)!r} is not a jaxbail results table: no column {missing[0]!r} "
                             f"({len(missing)} of {len(TABLE_COLUMNS)} columns missing)")
    cells: OrderedDict[str, dict[str, Any]] = OrderedDict()
    try:
        for row in reader:
            if None in row or any(row[c] is None for c in TABLE_COLUMNS):
                raise ValueError("wrong number of fields")
            cell = cells.setdefault(row["cell_id"], {
                "instance": row["instance"], "params": json.loads(row["params"] or "{}"), "planner": row["planner"],
                "eps": row["eps"], "mode": row["mode"], "task": row["task"], "T": int(row["episodes_total"]),
                "seeds": int(row["seeds"]), "slope": _float(row["slope"]), "slope_lo": _float(row["slope_lo"]),
                "slope_hi": _float(row["slope_hi"]), "theory_kind": row["theory_kind"], "eta": _float(row["eta"]),
                "c_Z": _float(row["c_Z"]), "C": _float(row["C"]), "Dmax": _float(row["Dmax"]),
                "per_episode_regret_last": _float(row["per_episode_regret_last"]),
                "episodes": [], "mean": [], "lo": [], "hi": [], "theory": [], "posterior": []})
            cell["episodes"].append(int(row["episode"]))
            for key, col in (("mean", "regret_mean"), ("lo", "regret_lo"), ("hi", "regret_hi"),
                             ("theory", "theory_value"), ("posterior", "true_task_posterior_mean")):
                cell[key].append(_float(row[col]))
            if not isinstance(cell["params"], dict) or cell["T"] < 1 or not 1 <= cell["episodes"][-1] <= cell["T"]:
                raise ValueError("params must be a JSON object and 1 <= episode <= episodes_total")
    except (ValueError, TypeError, RecursionError, csv.Error) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise PlotInputError(f"{str(path)!r} line {reader.line_num}: not a valid results row ({reason})") from None
    if not cells:
        raise PlotInputError(f"{str(path)!r} has a header but no rows: no finished cells to plot "
                             "(run `jaxbail sweep` to finish some)")
    for cell in cells.values():
        for key in ("episodes", "mean", "lo", "hi", "theory", "posterior"):
            cell[key] = np.asarray(cell[key])
    return cells


def _label(cell: dict[str, Any]) -> str:
    name = cell["planner"] + (f" eps={cell['eps']}" if cell["eps"] else "")
    if np.isfinite(cell["slope"]):
        name += f"  slope {cell['slope']:.2f} [{cell['slope_lo']:.2f}, {cell['slope_hi']:.2f}]"
    return name


def _group_title(cell: dict[str, Any]) -> str:
    params = ", ".join(f"{k}={v}" for k, v in sorted(cell["params"].items()))
    task = f", task {cell['task']}" if cell["task"] != "" else ""
    return f"{cell['instance']}({params}) {cell['mode']}{task}"


THEORY_LINESTYLE = {"exact_line": ":", "upper_bound": (0, (6, 2))}
THEORY_WORDS = {"exact_line": "exact line c T", "upper_bound": "upper bound (SPEC 6)"}


def curve_from_result(result, th, label: str) -> dict[str, Any]:
    """A :func:`regret_panel` curve from a :class:`~jaxbail.runner.SimulationResult` and its
    :class:`~jaxbail.theory.Theory` (``None``: no theory drawn)."""
    from jaxbail import stats, theory

    mean, lo, hi = stats.curve_ci(result.gap_regret)
    line = None if th is None else theory.theory_curve(th, result.episodes)
    return {"label": label, "episodes": result.episodes, "mean": mean, "lo": lo, "hi": hi, "theory": line,
            "theory_kind": None if line is None else th.kind}


def curve_from_summary(summary: dict[str, Any], label: str) -> dict[str, Any]:
    """A :func:`regret_panel` curve from a run's JSON summary (:func:`jaxbail.experiment.summarize`)."""
    curve = summary["curve"]
    line = curve["theory"]
    return {"label": label, "episodes": curve["episodes"], "mean": curve["regret_mean"], "lo": curve["regret_lo"],
            "hi": curve["regret_hi"],
            "theory": None if line is None else [np.nan if v is None else v for v in line],
            "theory_kind": None if line is None or summary["theory"] is None else summary["theory"]["kind"]}


def regret_panel(ax, curves: list[dict[str, Any]], *, title: str | None = None, guide: bool = True,
                 legend: str = "inside", floor: float = 1e-3) -> None:
    """The measured-against-theory panel every regret figure uses (``jaxbail plot``, each claim of
    ``jaxbail reproduce``, the notebooks): cumulative regret against T on log-log axes, per curve the
    measured mean (solid, with markers) with its 95% band and, in the same colour, its theory (dotted:
    an exact line; dashed: an upper bound), and a ``sqrt(T)`` reference slope (``guide``; through a third
    of the smallest final mean: the paper's rate, drawn without a constant).

    ``curves``: dicts with ``label``, ``episodes``, ``mean``, ``lo``, ``hi`` and optionally ``theory``
    (values at ``episodes`` or ``None``) and ``theory_kind`` (``"exact_line"`` or ``"upper_bound"``); build
    them with :func:`curve_from_result` or :func:`curve_from_summary`. ``legend``: ``"inside"``,
    ``"outside"`` (right of the axes) or ``"none"``. Values are clipped at ``floor`` for the log axis.
    """
    for i, curve in enumerate(curves):
        t = np.asarray(curve["episodes"], float)
        mean = np.maximum(np.asarray(curve["mean"], float), floor)
        # measured: solid, told apart by marker and colour; the theory keeps the dotted and dashed patterns
        line, = ax.plot(t, mean, label=curve["label"], linewidth=1.5, **{**style(i), "linestyle": "-"})
        ax.fill_between(t, np.maximum(np.asarray(curve["lo"], float), floor), np.asarray(curve["hi"], float),
                        color=line.get_color(), alpha=0.2, linewidth=0)
        th = curve.get("theory")
        if th is not None and np.isfinite(np.asarray(th, float)).any():
            th = np.asarray(th, float)
            kind = curve.get("theory_kind")
            ax.plot(t, np.where(th > 0, th, np.nan), color=line.get_color(),
                    linewidth=2 if kind == "exact_line" else 1.2, linestyle=THEORY_LINESTYLE.get(kind, "-."),
                    label=f"  theory: {THEORY_WORDS.get(kind, kind)}")
    if guide and curves:
        t = np.asarray(curves[0]["episodes"], float)
        low = min(float(np.asarray(c["mean"], float)[-1]) for c in curves)
        ax.plot(t, max(low / 3, floor) * np.sqrt(t / t[-1]), color="0.5", linewidth=0.9, linestyle=(0, (1, 3)),
                label="sqrt(T) reference slope (no constant)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("episodes T")
    ax.set_ylabel("cumulative regret (gap estimator)\nmean and 95% CI")
    ax.grid(True, which="both", alpha=0.25)
    if title is not None:
        ax.set_title(title, fontsize=9)
    if legend == "outside":
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    elif legend == "inside":
        ax.legend(fontsize=7)


def regret_curves(ax, cells: list[dict[str, Any]], *, guide: bool = True) -> None:
    """:func:`regret_panel` of a sweep's cells (from :func:`load_table`), labelled by planner, eps and slope."""
    curves = [{"label": _label(c), "episodes": c["episodes"], "mean": c["mean"], "lo": c["lo"], "hi": c["hi"],
               "theory": c["theory"], "theory_kind": c["theory_kind"]} for c in cells]
    regret_panel(ax, curves, guide=guide, legend="outside")


def final_regret_against(ax, cells: list[dict[str, Any]], key: str, *, xlabel: str) -> None:
    """Final cumulative regret (with 95% CI) against a cell quantity (eps, eta, C), with the theory value."""
    xs = np.array([c[key] for c in cells], dtype=float)
    order = np.argsort(xs)
    xs = xs[order]
    sel = [cells[i] for i in order]
    mean = np.array([c["mean"][-1] for c in sel])
    err = np.array([[c["mean"][-1] - c["lo"][-1], c["hi"][-1] - c["mean"][-1]] for c in sel]).T
    ax.errorbar(xs, mean, yerr=err, marker="o", color="black", capsize=3, label="measured (95% CI)")
    theory = np.array([c["theory"][-1] for c in sel])
    if np.isfinite(theory).any():
        ax.plot(xs, theory, marker="s", linestyle="--", color="0.45", label="theory at T (bound or line)")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(f"cumulative regret at T = {sel[0]['T']}")
    ax.set_yscale("log")
    if np.all(xs > 0) and xs.max() / xs.min() > 20:
        ax.set_xscale("log")
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=8)


def posterior_mass(ax, cells: list[dict[str, Any]]) -> None:
    """Mean posterior mass on the true task at the end of each logged episode."""
    for i, cell in enumerate(cells):
        ax.plot(cell["episodes"], cell["posterior"], label=_label(cell).split("  slope")[0], **style(i))
    ax.set_xscale("log")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("episode t")
    ax.set_ylabel("posterior mass on the true task")
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)


def save_figure(fig, out: Path, stem: str) -> list[Path]:
    """Write ``fig`` as ``out/stem.png`` and ``out/stem.pdf`` (150 dpi) atomically (a temporary file, then
    ``os.replace``: never a half-written figure under its name), close it, return the two paths."""
    from jaxbail.validate import atomic_write

    paths = [Path(out) / f"{stem}.png", Path(out) / f"{stem}.pdf"]
    try:
        for path in paths:
            atomic_write(path, b"", write=lambda tmp, fmt=path.suffix[1:]: fig.savefig(tmp, dpi=150,
                                                                                       bbox_inches="tight", format=fmt))
    finally:
        pyplot().close(fig)
    return paths


def plot_results(results: str | Path, out: str | Path | None = None) -> list[Path]:
    """Every figure a sweep's table supports, as PNG and PDF; returns the written paths."""
    plt = pyplot()
    cells = load_table(results)
    out = Path(out) if out is not None else (Path(results) if Path(results).is_dir() else Path(results).parent)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise PlotInputError(f"--out: cannot create {str(out)!r}: {err.strerror or err}") from None
    written: list[Path] = []
    groups: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
    for cell in cells.values():
        groups.setdefault(_group_title(cell) + f" T={cell['T']}", []).append(cell)
    n = len(groups)
    fig, axes = plt.subplots(n, 1, figsize=(10.5, 4.6 * n), squeeze=False)
    for ax, (title, members) in zip(axes[:, 0], groups.items()):
        regret_curves(ax, members)
        ax.set_title(f"measured regret vs theory: {title}", fontsize=9)
    written += save_figure(fig, out, "regret_curves")

    fig, axes = plt.subplots(n, 1, figsize=(9.5, 3.6 * n), squeeze=False)
    for ax, (title, members) in zip(axes[:, 0], groups.items()):
        posterior_mass(ax, members)
        ax.set_title(f"posterior concentration: {title}", fontsize=9)
    written += save_figure(fig, out, "posterior_mass")

    fixed_eps = [c for c in cells.values() if c["eps"] and c["eps"].replace(".", "", 1).isdigit()]
    if len({c["eps"] for c in fixed_eps}) >= 2:
        fig, ax = plt.subplots(figsize=(6, 4))
        for c in fixed_eps:
            c["eps_value"] = float(c["eps"])
        final_regret_against(ax, fixed_eps, "eps_value", xlabel="eps (fixed, per episode)")
        ax.set_title("eps trade-off: exploration cost vs posterior concentration", fontsize=9)
        written += save_figure(fig, out, "regret_vs_eps")
    for key, label in (("eta", "distinguishability eta"), ("C", "prior constant C")):
        by_planner: dict[str, list[dict[str, Any]]] = {}
        for c in cells.values():
            by_planner.setdefault(c["planner"] + c["eps"], []).append(c)
        varied = {k: v for k, v in by_planner.items() if len({round(c[key], 9) for c in v}) >= 2}
        if varied:
            fig, axes = plt.subplots(1, len(varied), figsize=(6 * len(varied), 4), squeeze=False)
            for ax, (name, members) in zip(axes[0], varied.items()):
                final_regret_against(ax, members, key, xlabel=label)
                ax.set_title(f"{name}: regret at T against {label}", fontsize=9)
            written += save_figure(fig, out, f"regret_vs_{key}")
    return written

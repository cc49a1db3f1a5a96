"""Figures from sweep results: regret curves with theory overlays, regret against eps, eta and C, posteriors."""

from __future__ import annotations

import csv
import io
import json
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["load_table", "plot_results", "regret_curves", "final_regret_against", "posterior_mass", "style",
           "PlotInputError"]


class PlotInputError(ValueError):
    """A results table that cannot be plotted (empty, header only, not a jaxbail table, bad values)."""

LINESTYLES = ["-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1))]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]


def _pyplot():
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


def regret_curves(ax, cells: list[dict[str, Any]], *, guide: bool = True) -> None:
    """Cumulative regret against T on log-log axes: mean with 95% band per cell, its exact line
    (dotted) or epsilon-BAIL bound (dashed), and a ``sqrt(T)`` reference slope."""
    kinds = set()
    for i, cell in enumerate(cells):
        st = style(i)
        t, mean = cell["episodes"], np.maximum(cell["mean"], 1e-12)
        line, = ax.plot(t, mean, label=_label(cell), linewidth=1.5, **st)
        ax.fill_between(t, np.maximum(cell["lo"], 1e-12), cell["hi"], color=line.get_color(), alpha=0.18,
                        linewidth=0)
        theory = cell["theory"]
        if np.isfinite(theory).any():
            kinds.add(cell["theory_kind"])
            ax.plot(t, np.where(theory > 0, theory, np.nan), color=line.get_color(), linewidth=1.0,
                    linestyle=":" if cell["theory_kind"] == "exact_line" else (0, (6, 2)))
    if "exact_line" in kinds:
        ax.plot([], [], color="black", linestyle=":", linewidth=1.0, label="theory: exact line (dotted)")
    if "upper_bound" in kinds:
        ax.plot([], [], color="black", linestyle=(0, (6, 2)), linewidth=1.0,
                label="theory: eps-BAIL upper bound (dashed)")
    if guide and cells:
        t = cells[0]["episodes"].astype(float)
        anchor = max(np.nanmax([np.nanmax(c["mean"]) for c in cells]) / 10, 1e-6)
        ax.plot(t, anchor * np.sqrt(t / t[-1]), color="0.5", linewidth=0.8, linestyle=(0, (1, 3)),
                label="sqrt(T) reference slope")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("episodes T")
    ax.set_ylabel("cumulative regret (gap estimator)\nmean and 95% CI")
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)


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


def _save(fig, out: Path, stem: str) -> list[Path]:
    from jaxbail.validate import atomic_write

    paths = [out / f"{stem}.png", out / f"{stem}.pdf"]
    for path in paths:  # a temporary file, then os.replace: never a half-written figure under its name
        atomic_write(path, b"", write=lambda tmp, fmt=path.suffix[1:]: fig.savefig(tmp, dpi=150, bbox_inches="tight",
                                                                                   format=fmt))
    return paths


def plot_results(results: str | Path, out: str | Path | None = None) -> list[Path]:
    """Every figure a sweep's table supports, as PNG and PDF; returns the written paths."""
    plt = _pyplot()
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
    written += _save(fig, out, "regret_curves")
    plt.close(fig)

    fig, axes = plt.subplots(n, 1, figsize=(9.5, 3.6 * n), squeeze=False)
    for ax, (title, members) in zip(axes[:, 0], groups.items()):
        posterior_mass(ax, members)
        ax.set_title(f"posterior concentration: {title}", fontsize=9)
    written += _save(fig, out, "posterior_mass")
    plt.close(fig)

    fixed_eps = [c for c in cells.values() if c["eps"] and c["eps"].replace(".", "", 1).isdigit()]
    if len({c["eps"] for c in fixed_eps}) >= 2:
        fig, ax = plt.subplots(figsize=(6, 4))
        for c in fixed_eps:
            c["eps_value"] = float(c["eps"])
        final_regret_against(ax, fixed_eps, "eps_value", xlabel="eps (fixed, per episode)")
        ax.set_title("eps trade-off: exploration cost vs posterior concentration", fontsize=9)
        written += _save(fig, out, "regret_vs_eps")
        plt.close(fig)
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
            written += _save(fig, out, f"regret_vs_{key}")
            plt.close(fig)
    return written

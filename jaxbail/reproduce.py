"""``jaxbail reproduce``: the paper's claims (:mod:`jaxbail.claims`) as figures, a summary table and verdicts
computed from numbers. This module only assembles: it runs every module of :data:`jaxbail.claims.ALL`,
then writes ``summary.json``, ``summary.md`` and the figures."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from jaxbail import claims
from jaxbail.claims import claim2, markdown_row
from jaxbail.claims.common import differ, on_exact_line, sublinear_under_bound

__all__ = ["SETTINGS", "reproduce", "markdown", "on_exact_line", "sublinear_under_bound", "differ"]

SETTINGS: dict[str, dict[str, dict[str, Any]]] = {
    name: {module.NAME: module.SETTINGS[name] for module in claims.ALL} for name in ("quick", "full")}
"""Per run size (``quick``, ``full``) each claim's settings, by claim name (as in ``summary.json``'s meta)."""


def markdown(records: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    """``summary.md``: the settings, one table line per row of every claim (each record's ``row``), figures."""
    lines = ["# jaxbail reproduce: the paper's claims, measured", "",
             f"Settings: `{meta['settings_name']}` ({meta['episodes']} episodes x {meta['seeds']} seeds for "
             f"claims 2-3); wall time {meta['wall_seconds']:.0f} s on {meta['device']}.", "",
             "| claim | measured | theory | criterion | verdict |", "| --- | --- | --- | --- | --- |"]
    lines += [record["row"] for record in records]
    lines += ["", "Figures: " + ", ".join(f"`{name}`" for name in meta["figures"] if name.endswith(".png"))
              + " (and PDF).", "",
              "The paper has no experiments: these are measurements of its claims on the instances named in "
              "`summary.json`; the bound drawn is SPEC 6's, the paper's own rates are shown only as slopes."]
    return "\n".join(lines) + "\n"


def reproduce(out: str | Path = "results/reproduce", quick: bool = False, log=print) -> dict[str, Any]:
    """Run every claim of :data:`jaxbail.claims.ALL`, write figures, ``summary.md`` and ``summary.json`` into
    ``out``; return the summary (``meta``, ``claims``: the records, ``figures``)."""
    from jaxbail.sweep import device_name, package_versions
    from jaxbail.validate import atomic_write

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    name = "quick" if quick else "full"
    start = time.time()
    records = []
    for module in claims.ALL:
        settings = module.SETTINGS[name]
        log(f"{module.NAME}: {module.TITLE} ({', '.join(f'{k} {v}' for k, v in settings.items())})")
        started = time.time()
        record = module.run(settings)
        record.setdefault("claim", module.NAME)
        record.setdefault("title", module.TITLE)
        record["verdict"] = module.verdict(record)  # pure: the same function of the numbers a reader can rerun
        record["row"] = "\n".join(markdown_row(row) for row in module.rows(record))
        records.append(record)
        log(f"  -> {record['verdict']} ({time.time() - started:.0f} s)")
    log("figures")
    figures = [path for module, record in zip(claims.ALL, records) for path in module.figure(record, out)]
    meta = {"settings_name": name, "settings": SETTINGS[name], "episodes": claim2.SETTINGS[name]["episodes"],
            "seeds": claim2.SETTINGS[name]["seeds"], "wall_seconds": time.time() - start, "device": device_name(),
            "versions": package_versions(), "figures": [p.name for p in figures]}
    summary = {"meta": meta, "claims": records, "figures": [p.name for p in figures]}
    from jaxbail.validate import strict_json  # standard JSON: a non-finite value is null, listed in null_notes

    clean, notes = strict_json(summary)
    atomic_write(out / "summary.json", json.dumps({**clean, **({"null_notes": notes} if notes else {})},
                                                  indent=1, allow_nan=False))
    atomic_write(out / "summary.md", markdown(records, meta))
    return summary

"""The paper's claims, one module each, as ``jaxbail reproduce`` runs them.

A claim module defines:

* ``NAME`` (``"claim3"``): the key of its settings in ``summary.json`` and of its log line;
* ``TITLE``: one line, the claim as the paper makes it;
* ``SETTINGS = {"quick": {...}, "full": {...}}``: the run sizes (``seed`` included) of ``--quick`` and of the
  default run;
* ``run(settings, *, progress=False) -> dict``: measure, and return a JSON-able record: ``claim`` (its
  number), ``title``, what was measured and what the theory gives, ``criterion`` (in words), and ``verdict``
  (``verdict(record)``, stored last);
* ``verdict(result) -> str``: ``"supported"`` or ``"not supported"``, a pure function of the record's numbers
  (no simulation; tests flip it by editing the numbers);
* ``figure(result, out_dir) -> list[Path]``: draw its figure(s) into ``out_dir`` as PNG and PDF
  (:func:`jaxbail.plot.save_figure`; regret against T with :func:`jaxbail.plot.regret_panel`) and return
  the paths;
* ``rows(result) -> list[dict]``: its rows of the summary table, each with ``claim``, ``measured``,
  ``theory``, ``criterion`` and ``verdict`` (a claim measured on several instances may give one row each).

To add a claim, write the module and put it in :data:`ALL` at its place; :mod:`jaxbail.reproduce` does the
rest (it runs each module in order, stores each record with its rows under ``row``, draws the figures and
writes ``summary.json`` and ``summary.md``). Checks that several claims share (on an exact line, sublinear
under a bound, two runs differ; planner cells run in vmapped batches) are in :mod:`jaxbail.claims.common`.
"""

from jaxbail.claims import (
    assumptions,
    claim1,
    claim1_memory,
    claim2,
    claim3,
    claim3b_constants,
    claim4,
    claim5a,
    claim5b,
    memory_length,
)

ALL = [claim1, claim1_memory, claim2, claim3, claim3b_constants, claim4, memory_length, claim5a, claim5b, assumptions]
"""Every claim module, in the order of ``summary.md``. ``claim3`` includes the rate across T
(:mod:`~jaxbail.claims.claim3_rate`); ``memory_length`` is a measurement beside claim 4, not a claim of the
paper; ``assumptions`` ("beyond the paper's assumptions") has descriptive verdicts."""

__all__ = ["ALL", "assumptions", "claim1", "claim1_memory", "claim2", "claim3", "claim3b_constants", "claim4",
           "claim5a", "claim5b", "memory_length", "markdown_row"]


def markdown_row(row: dict[str, str]) -> str:
    """One ``summary.md`` table line from a row of a claim's ``rows``."""
    return f"| {row['claim']} | {row['measured']} | {row['theory']} | {row['criterion']} | **{row['verdict']}** |"

"""Claim 4's pure verdict functions and helpers, under their former module name (the claim lives in
:mod:`jaxbail.claims.claim4`)."""

from jaxbail.claims.claim4 import (
    CHECKPOINTS,
    DELTA_NOTE,
    absolute_bound_curve,
    heldout_delta,
    verdict_absolute,
    verdict_excess,
    verdict_llm_linear,
)

__all__ = ["CHECKPOINTS", "DELTA_NOTE", "absolute_bound_curve", "heldout_delta", "verdict_absolute", "verdict_excess",
           "verdict_llm_linear"]

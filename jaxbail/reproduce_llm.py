"""Claim 4's pure verdict functions, under their former module name (the claim lives in
:mod:`jaxbail.claims.claim4`)."""

from jaxbail.claims.claim4 import CHECKPOINTS, verdict_excess, verdict_llm_linear

__all__ = ["CHECKPOINTS", "verdict_excess", "verdict_llm_linear"]

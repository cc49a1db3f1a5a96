"""The pretrained LLM planner (SPEC 7; transformer and recurrent families): data, model, training, checkpoints."""

from jaxbail.llm.checkpoint import (
    CheckpointError,
    default_checkpoint,
    load_checkpoint,
    save_checkpoint,
    shipped_checkpoint,
)
from jaxbail.llm.data import Prompts, Tokens, bail_targets, sample_prompts, tokenize
from jaxbail.llm.deployment import deployment_delta
from jaxbail.llm.model import KVCache, ModelConfig, Recurrent, Transformer, build_model
from jaxbail.llm.planner import (
    LlmPlanner,
    RecurrentLlmPlanner,
    RingLlmPlanner,
    WindowedBail,
    eps_llm,
    llm_planner_from_checkpoint,
    planner_for,
)
from jaxbail.llm.train import PRESETS, TrainResult, evaluate_delta, pretrain, train

__all__ = ["CheckpointError", "KVCache", "LlmPlanner", "ModelConfig", "PRESETS", "Prompts", "Recurrent",
           "RecurrentLlmPlanner", "RingLlmPlanner", "Tokens", "build_model", "planner_for",
           "TrainResult", "Transformer", "WindowedBail", "bail_targets", "default_checkpoint", "deployment_delta",
           "eps_llm", "evaluate_delta", "llm_planner_from_checkpoint", "load_checkpoint", "pretrain", "sample_prompts",
           "save_checkpoint", "shipped_checkpoint", "tokenize", "train"]

"""jaxbail: in-context Bayesian imitation (BAIL) in latent-task POMDPs, jit-compiled and batched."""

# llm registers the llm planners (jaxbail.planners never imports jaxbail.llm, which sits above the runner)
from jaxbail import belief, experts, instances, llm, multi_agent, planners, stats, theory
from jaxbail.belief import Belief, FactoredBelief
from jaxbail.experts import Experts, compute_experts
from jaxbail.instance import (
    Instance,
    InstanceError,
    MultiAgentInstance,
    load_instance,
    make_instance,
    make_multi_agent_instance,
    save_instance,
)
from jaxbail.instances import instance_by_name
from jaxbail.planners import Planner, epsilon_greedy, make_planner
from jaxbail.runner import SimulationResult, simulate

__version__ = "0.1.0"

__all__ = ["Belief", "Experts", "FactoredBelief", "Instance", "InstanceError", "MultiAgentInstance", "Planner",
           "SimulationResult", "belief", "compute_experts", "epsilon_greedy", "experts", "instance_by_name",
           "instances", "llm", "load_instance", "make_instance", "make_multi_agent_instance", "make_planner",
           "multi_agent", "planners", "save_instance", "simulate", "stats", "theory"]

"""Planners: one small interface (:class:`Planner`), the paper's planners and baselines, a registry."""

from jaxbail.planners.base import Context, Exploration, MarkovPlay, Planner, mixture_over_belief, task_policy
from jaxbail.planners.bawm import Bawm, mean_model_plan
from jaxbail.planners.core import Bail, EpsilonGreedy, Map, Oracle, Psrl, Uniform, epsilon_greedy, exploration_probs
from jaxbail.planners.registry import PLANNERS, PlannerEntry, PlannerName, make_planner, planner_name, register

__all__ = ["Context", "Exploration", "MarkovPlay", "Planner", "Bail", "Bawm", "mean_model_plan", "EpsilonGreedy",
           "Map", "Oracle", "Psrl", "Uniform", "epsilon_greedy", "exploration_probs", "mixture_over_belief",
           "task_policy", "PLANNERS", "PlannerEntry", "PlannerName", "make_planner", "planner_name", "register"]

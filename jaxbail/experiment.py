"""One run, end to end: resolve the planner's eps, simulate, summarise with statistics and theory."""

from __future__ import annotations

import functools
import math
from typing import Any, NamedTuple

import jax
import numpy as np

from jaxbail import stats, theory
from jaxbail.instance import Instance
from jaxbail.planners import make_planner
from jaxbail.planners import registry as planner_registry
from jaxbail.runner import SimulationResult, simulate

__all__ = ["EpsSpec", "parse_eps", "resolve_planner", "run_and_summarize", "summarize", "multi_agent_contrast"]


class EpsSpec(NamedTuple):
    """An epsilon choice: ``fixed`` (``value`` = eps), ``auto`` (bound-optimal for ``T``)
    or ``anytime`` (``eps_t = min(1, value / sqrt(t))``)."""

    kind: str
    value: float | None = None

    def describe(self) -> str:
        return {"fixed": f"{self.value:g}", "auto": "auto", "anytime": f"anytime:{self.value:g}"}[self.kind]


def parse_eps(text: str) -> EpsSpec:
    """Parse ``0.1``, ``auto`` or ``anytime:c``; raise ``ValueError`` with a one-line reason."""
    text = str(text).strip()
    if text == "auto":
        return EpsSpec("auto")
    if text.startswith("anytime:"):
        raw = text[len("anytime:"):]
        try:
            c = float(raw)
        except ValueError:
            raise ValueError(f"malformed schedule {text!r}: expected anytime:c with a number c > 0") from None
        if not (c > 0 and math.isfinite(c)):
            raise ValueError(f"malformed schedule {text!r}: c must be a finite number > 0")
        return EpsSpec("anytime", c)
    try:
        eps = float(text)
    except ValueError:
        raise ValueError(f"expected a number in [0, 1], 'auto' or 'anytime:c', got {text!r}") from None
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"eps must lie in [0, 1], got {eps:g}")
    return EpsSpec("fixed", eps)


def resolve_planner(name: str, instance: Instance, num_episodes: int, task: int | None = None,
                    eps: EpsSpec | None = None, checkpoint=None, window: int | None = None):
    """Build planner ``name``; for ``eps_*`` planners turn ``eps`` (default ``auto``) into a schedule.

    ``checkpoint`` is the weights file of ``llm``/``eps_llm`` (default: the one shipped for the instance);
    ``window`` the ``K`` of ``bail_window``/``eps_bail_window`` (required), or an ALiBi ``llm``/``eps_llm`` checkpoint's
    deployment window (optional).

    Returns:
      ``(planner, info)`` where ``info`` records the eps actually used (``None`` for other planners).
    Raises:
      ValueError: ``auto`` where the bound does not apply (it needs ``eta > 0`` and an injective Reporter).
    """
    build = functools.partial(make_planner, name, instance=instance, checkpoint=checkpoint, window=window)
    if not planner_registry.planner_name(name).takes_eps:
        return build(), None
    eps = EpsSpec("auto") if eps is None else eps
    if eps.kind == "fixed":
        return build(eps_scale=eps.value, eps_power=0.0), {"spec": eps.describe(), "eps": eps.value}
    if eps.kind == "anytime":
        return (build(eps_scale=eps.value, eps_power=0.5),
                {"spec": eps.describe(), "eps": f"min(1, {eps.value:g}/sqrt(t))"})
    if not theory.reporter_is_injective(instance):
        raise ValueError("eps auto needs the bound's constants, derived for an injective Reporter; pass a number")
    if instance.num_tasks < 2:
        raise ValueError("eps auto needs at least two tasks; pass a number")
    dmax, c_const, eta = theory.bound_constants(instance, task)
    if eta.lo <= 0:
        raise ValueError("eps auto needs eta > 0, but the tasks are indistinguishable under exploration; pass a number")
    value = theory.optimal_epsilon(dmax, c_const, eta.lo, num_episodes)
    return build(eps_scale=value, eps_power=0.0), {"spec": "auto", "eps": value}


def _num(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def summarize(result: SimulationResult, *, planner: str, th: theory.Theory | None = None,
              seed: int = 0) -> dict[str, Any]:
    """The SPEC 9 JSON summary of a run (NaN written as null); from the streamed moments of a
    ``keep_curves=False`` run, the same fields (:func:`jaxbail.streaming.summarize_streamed`)."""
    if result.curve_stats is not None:
        from jaxbail.streaming import summarize_streamed

        out = {"planner": planner, "episodes": int(result.num_episodes),
               **summarize_streamed(result.episodes, result.num_episodes, result.curve_stats),
               "theory": None if th is None else th.to_json(), "theory_note": None if th is None else th.note}
        curve = None if th is None else theory.theory_curve(th, result.episodes)
        out["curve"]["theory"] = None if curve is None else [_num(v) for v in curve]
        return out
    gap = stats.mean_ci(result.gap_regret[:, -1])
    ret = stats.mean_ci(result.return_regret[:, -1])
    slope = stats.loglog_slope(result.episodes, result.gap_regret, seed=seed)
    t_total = result.num_episodes
    last = t_total - math.ceil(t_total / 10)
    if last >= 1:
        col = int(np.searchsorted(result.episodes, last))
        per_last = (result.gap_regret[:, -1] - result.gap_regret[:, col]) / (t_total - last)
    else:
        per_last = result.gap_regret[:, -1] / t_total
    mean, lo, hi = stats.curve_ci(result.gap_regret)
    curve = None if th is None else theory.theory_curve(th, result.episodes)
    return {
        "planner": planner,
        "episodes": int(t_total),
        "seeds": int(result.gap_regret.shape[0]),
        "regret_mean": _num(gap.mean),
        "regret_ci95": [_num(gap.lo), _num(gap.hi)],
        "regret_se": _num(gap.se),
        "slope": _num(slope.slope),
        "slope_ci95": [_num(slope.lo), _num(slope.hi)],
        "slope_range": [slope.first_episode, slope.last_episode],
        "per_episode_regret_last": _num(float(np.mean(per_last))),
        "return_regret_mean": _num(ret.mean),
        "return_regret_ci95": [_num(ret.lo), _num(ret.hi)],
        "misspecification_events": int(result.misspecified[:, -1].sum()),
        "true_task_posterior_final": _num(float(result.true_task_posterior[:, -1].mean())),
        "theory": None if th is None else th.to_json(),
        "theory_note": None if th is None else th.note,
        "curve": {"episodes": result.episodes.tolist(), "regret_mean": mean.tolist(),
                  "regret_lo": lo.tolist(), "regret_hi": hi.tolist(),
                  "return_regret_mean": result.return_regret.mean(axis=0).tolist(),
                  "true_task_posterior_mean": result.true_task_posterior.mean(axis=0).tolist(),
                  "theory": None if curve is None else [_num(v) for v in curve]},
    }


def run_and_summarize(instance: Instance, planner_name: str, *, num_episodes: int, num_seeds: int,
                      task: int | None = None, eps: EpsSpec | None = None, seed: int = 0,
                      model: Instance | None = None, belief: str = "exact",
                      expert_temperature: float | None = None, progress: bool | None = None,
                      checkpoint=None, window: int | None = None) -> dict[str, Any]:
    """Resolve, simulate and summarise one run (what ``jaxbail run --json`` prints).

    ``llm``/``eps_llm`` load ``checkpoint`` (default: the one shipped for the instance) and measure
    ``delta``, the mean TV to exact BAIL on the planner's own decisions of this run; its upper 95%
    end enters SPEC 6's practical bound, and the summary gains ``checkpoint`` and ``delta``.
    """
    from jaxbail.streaming import STREAM_ABOVE

    planner, eps_info = resolve_planner(planner_name, instance, num_episodes, task, eps, checkpoint, window)
    pretrained = planner_registry.planner_name(planner_name).needs_checkpoint
    result = simulate(jax.random.PRNGKey(seed), instance, planner, num_episodes=num_episodes,
                      num_seeds=num_seeds, task=task, model=model, belief=belief,
                      expert_temperature=expert_temperature, progress=progress, measure_tv=pretrained,
                      keep_curves=num_seeds <= STREAM_ABOVE)
    delta = bound_delta = None
    if pretrained:
        from jaxbail.llm.deployment import delta_estimate

        est, used = delta_estimate(result)
        if used:
            delta = {"mean": _num(est.mean), "ci95": [_num(est.lo), _num(est.hi)], "seeds": used,
                     "definition": "mean over seeds of the mean TV between the planner's subgoal distribution "
                                   "and exact BAIL over its own decisions (exploration episodes left out)"}
            # the bound takes the upper 95% end (the mean when one seed leaves no interval)
            bound_delta = min(1.0, max(0.0, est.hi if math.isfinite(est.hi) else est.mean))
    if belief != "exact":
        th = theory.Theory(None, None, None, "no theory for the delusional posterior")
    elif pretrained and delta is None:
        th = theory.Theory(None, None, None, "no theory: every episode explored, so delta was not measured")
    else:
        th = theory.theory_for(instance, planner, num_episodes, task, model=model,
                               expert_temperature=expert_temperature, delta=bound_delta)
    out = summarize(result, planner=planner_name, th=th, seed=seed)
    out.update({"instance": instance.name or None, "mode": "bayes" if task is None else "fixed", "task": task,
                "seed": seed, "eps": eps_info, "belief": belief})
    if window is not None:
        out["window"] = window
    if pretrained:
        from jaxbail.llm.checkpoint import default_checkpoint

        out["checkpoint"] = str(default_checkpoint(instance) if checkpoint is None else checkpoint)
        out["delta"] = delta
    return out


def multi_agent_contrast(num_actors: tuple[int, ...] = (2, 3), *, planners: tuple[str, ...] = ("bail", "eps_bail"),
                         num_episodes: int = 2000, num_seeds: int = 200, eps: str = "anytime:1", seed: int = 0,
                         task: int | None = None, progress: bool | None = None,
                         **instance_params: Any) -> list[dict[str, Any]]:
    """BAIL's linear against eps-BAIL's sublinear regret with several Actors (SPEC 8), on ``coordination``.

    One summary per ``(N, planner)`` (the fields of :func:`summarize`: SPEC 9's, the logged curve and
    the theory: BAIL's exact line, the eps bound of the joint system), with ``"num_actors"``,
    ``"sizes"`` and ``"eps"`` added, in the order of ``num_actors`` then ``planners``.

    For each ``N`` the planners run as one vmapped batch where they can: ``bail`` (``bawm``) runs as
    the epsilon wrapper with ``eps = 0``, which plays exactly what BAIL (BAWM) plays, beside
    ``eps_bail`` (``eps_bawm``); all planners share the seeds' tasks and noise (paired differences).

    Args:
      num_actors: the ``N`` to run. planners: planner names (``eps`` applies to ``eps_*`` ones).
      eps: as ``jaxbail run --eps`` (a number, ``auto`` or ``anytime:c``).
      instance_params: further parameters of :func:`jaxbail.instances.coordination`
        (``num_tasks``, ``horizon``, ``prior``, ``reveal``).
    """
    from jaxbail.instances import coordination
    from jaxbail.planners import epsilon_greedy
    from jaxbail.runner import simulate_many

    out = []
    for n in num_actors:
        instance = coordination(num_actors=n, **instance_params)
        cells = []  # (name, planner for the theory, planner to simulate, eps info)
        for name in planners:
            spec = planner_registry.planner_name(name)
            planner, info = resolve_planner(name, instance, num_episodes, task,
                                            parse_eps(eps) if spec.takes_eps else None)
            runs_as = epsilon_greedy(planner, 0.0) if spec.batches_with_eps else planner
            cells.append((name, planner, runs_as, info))
        groups: dict[Any, list[int]] = {}
        for i, cell in enumerate(cells):
            groups.setdefault(jax.tree.structure(cell[2]), []).append(i)
        results: dict[int, SimulationResult] = {}
        for members in groups.values():
            batch = simulate_many(jax.random.PRNGKey(seed), [instance] * len(members),
                                  [cells[i][2] for i in members], num_episodes=num_episodes, num_seeds=num_seeds,
                                  tasks=[task] * len(members), progress=progress)
            results.update(zip(members, batch))
        for i, (name, planner, _, info) in enumerate(cells):
            th = theory.theory_for(instance, planner, num_episodes, task)
            summary = summarize(results[i], planner=name, th=th, seed=seed)
            summary.update({"instance": instance.name, "mode": "bayes" if task is None else "fixed", "task": task,
                            "seed": seed, "eps": info, "num_actors": n, "sizes": instance.sizes})
            out.append(summary)
    return out

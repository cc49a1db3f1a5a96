# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # jaxbail quick start: instances, a run, regret against theory, a replay
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/jaxbail/jaxbail/blob/main/notebooks/01_quickstart.ipynb)
#
# A perfectly pretrained LLM Planner does BAIL (Bayesian aggregated imitation learning): its subgoal
# distribution is the posterior-weighted mixture of the task experts. This notebook builds the `hard`
# instance (where BAIL's posterior can never move) and a random one, simulates BAIL and epsilon-BAIL over
# many seeds with `jaxbail.simulate`, and sets the measured cumulative regret (mean with a 95% band) against
# what the theory gives for that run (`theory.theory_for`): BAIL's exact linear line and the epsilon-BAIL
# upper bound. It then follows the posterior mass on the true task across episodes, and replays a short
# hand-written trajectory through the exact posterior to show the task posterior and BAIL's subgoal
# distribution at every decision. The paper (He, Chen, Zhang and Yang, ICML 2024) has no experiments:
# every figure here is a simulation of its model, labelled with what was measured and what the theory
# predicts.

# %%
# In Colab: install jaxbail from GitHub (JAX, flax and optax are preinstalled there).
# Anywhere else this cell does nothing: install the package yourself (pip install . jupyter).
import sys

if "google.colab" in sys.modules:
    from IPython import get_ipython

    get_ipython().run_line_magic("pip", "install -q git+https://github.com/jaxbail/jaxbail")

# %%
import os

# JAXBAIL_NOTEBOOK_SMALL=1 (set by tests/test_notebooks.py) shrinks every run to a smoke test;
# the committed outputs use the full settings (well under a minute on 2 CPU cores).
SMALL = os.environ.get("JAXBAIL_NOTEBOOK_SMALL") == "1"
if SMALL:
    EPISODES, SEEDS = 100, 16
else:
    EPISODES, SEEDS = 4000, 500
print(f"SMALL = {SMALL}: EPISODES = {EPISODES}, SEEDS = {SEEDS}")

# %%
import warnings

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm without ipywidgets; progress bars are off

import jax
import matplotlib.pyplot as plt
import numpy as np

import jaxbail
from jaxbail import plot, stats, theory

plt.rcParams.update({"figure.dpi": 100, "axes.grid": True, "grid.alpha": 0.25, "legend.fontsize": 8})
print(f"jaxbail {jaxbail.__version__}, jax {jax.__version__} on {jax.devices()[0].platform}")

# %% [markdown]
# ## 1. Instances
#
# `hard(num_tasks=Z, horizon=H, prior, reveal)`: state 0 is *home*, state `1 + z` is task `z`'s signpost.
# Subgoals `0 .. Z-1` are arms (arm `g` pays 1 only in task `g` and returns home, identically in every
# task); subgoal `Z` is a probe that pays nothing and shows the task's signpost with probability `reveal`.
# The Reporter shows the state. Expert `z` always pulls arm `z`, so the subgoals the experts use never
# move the posterior: BAIL is stuck at the prior mixture. Exploration finds the probe.

# %%
env = jaxbail.instances.hard(num_tasks=3, horizon=5, prior=[0.5, 0.3, 0.2])
experts = jaxbail.compute_experts(env)
print("sizes:", env.sizes)
print("prior rho:", np.asarray(env.prior).round(3))
print("expert z's subgoal at home:", [int(np.argmax(experts.policy[0, z, 0])) for z in range(env.num_tasks)],
      "| the probe is subgoal", env.num_tasks)
print("J*_z (optimal value per task):", np.asarray(experts.value))

eta = theory.distinguishability(env)  # under uniform exploration
dmax, c_const, _ = theory.bound_constants(env, eta=eta)
print(f"eta = {eta.eta:.4f} ({eta.method}), c_Z = {theory.prior_coverage(env.prior):.3f}, "
      f"C (prior average of C_z) = {c_const:.3f}, Dmax = {dmax:g}")
frozen, why = theory.frozen_posterior(env)
print(f"posterior frozen under the experts' subgoals: {frozen} ({why})")

# %% [markdown]
# A random instance: Dirichlet transition rows, uniform rewards, an identity Reporter. Here the experts'
# own subgoals carry evidence about the task, so the posterior can move without any exploration, and
# no exact line applies to BAIL.

# %%
rand = jaxbail.instances.random_instance(0, num_tasks=3, num_states=4, num_subgoals=3, horizon=4)
rand_eta = theory.distinguishability(rand)
print("sizes:", rand.sizes)
print(f"eta = {rand_eta.eta:.4f} ({rand_eta.method}), Dmax = {theory.max_action_gap(rand):.3f}")
frozen, why = theory.frozen_posterior(rand)
print(f"posterior frozen under the experts' subgoals: {frozen} ({why})")

# %% [markdown]
# ## 2. A run
#
# `jaxbail.simulate` runs `SEEDS` independent seeds of `EPISODES` episodes as one `jit(vmap(scan))`.
# Each seed draws its task from the prior (Bayesian regret). Both planners get the same key, so they face
# the same tasks and the same environment noise (a paired comparison). epsilon-BAIL here uses the anytime
# schedule `eps_t = min(1, 1/sqrt(t))` (`--eps anytime:1` on the command line): with probability `eps_t`
# an episode is played by the uniform exploration policy, otherwise by BAIL.

# %%
key = jax.random.PRNGKey(0)
planners = {
    "BAIL": jaxbail.make_planner("bail"),
    "eps-BAIL (anytime:1)": jaxbail.make_planner("eps_bail", eps_scale=1.0, eps_power=0.5),
}


def run(instance, planners):
    results, theories = {}, {}
    for label, planner in planners.items():
        results[label] = jaxbail.simulate(key, instance, planner, num_episodes=EPISODES, num_seeds=SEEDS,
                                          progress=False)
        theories[label] = theory.theory_for(instance, planner, EPISODES)
        final = stats.mean_ci(results[label].gap_regret[:, -1])
        slope = stats.loglog_slope(results[label].episodes, results[label].gap_regret)
        th = theories[label]
        print(f"{label}: measured Reg(T={EPISODES}) = {final.mean:.1f}  95% CI [{final.lo:.1f}, {final.hi:.1f}]; "
              f"log-log slope {slope.slope:.3f} [{slope.lo:.3f}, {slope.hi:.3f}] over T in "
              f"[{slope.first_episode}, {slope.last_episode}]")
        if th.kind is None:
            print(f"    theory: none applies ({th.note})")
        else:
            print(f"    theory: {th.kind} = {th.value:.1f}  ({th.formula}; {th.note})")
    return results, theories


results, theories = run(env, planners)

# %% [markdown]
# ### Regret against theory
#
# Cumulative regret (gap estimator) against the number of episodes, on log-log axes: the measured mean
# over seeds with its 95% band, and the theory for the same run. For BAIL on `hard` the theory is an
# exact line `c T` (policy evaluation of the fixed prior mixture, `c = H (1 - sum_z rho(z)^2)`); for
# epsilon-BAIL it is an upper bound, so the measured curve should lie below it, not on it.

# %%
def regret_figure(results, theories, title):
    """The package's regret panel (:func:`jaxbail.plot.regret_panel`): measured mean with its 95% band and,
    in the same colour, the theory for that run (dotted: exact line; dashed: upper bound)."""
    fig, ax = plt.subplots(figsize=(8, 4.8))
    curves = [plot.curve_from_result(res, theories[label], f"measured: {label}, mean over {res.gap_regret.shape[0]} "
                                     "seeds (95% band)") for label, res in results.items()]
    plot.regret_panel(ax, curves, title=title, guide=False, legend="outside")
    plt.show()


regret_figure(results, theories, f"hard (Z=3, H=5, rho=[.5,.3,.2]): measured regret vs theory, "
                                 f"{SEEDS} seeds")

# %% [markdown]
# The same two planners on the random instance. BAIL has no exact line there (the note says why), and
# its posterior concentrates through the experts' own subgoals.

# %%
rand_results, rand_theories = run(rand, planners)
regret_figure(rand_results, rand_theories, f"random instance (Z=3, S=4, G=3, H=4): measured regret vs theory, "
                                           f"{SEEDS} seeds")

# %% [markdown]
# On this instance the initial-state laws differ across tasks, so the first observations of every episode
# already carry evidence: BAIL's posterior concentrates within a few episodes and its regret stops growing,
# while epsilon-BAIL keeps paying for its exploration episodes (and stays under its bound). Exploration
# helps where the experts' own behaviour cannot reveal the task, as on `hard`, and costs where it can.

# %% [markdown]
# ## 3. The posterior mass on the true task
#
# The exact posterior `w_t(z)` at the end of each episode, evaluated at each seed's true task and averaged
# over seeds. On `hard` BAIL's posterior never moves, so the theory predicts the mean mass stays at
# `E_z[rho(z)] = sum_z rho(z)^2`; epsilon-BAIL's exploration episodes use the probe and concentrate it. On
# the random instance BAIL's own subgoals move it.

# %%
fig, ax = plt.subplots(figsize=(8, 4.2))
curves = {f"hard, {k}": v for k, v in results.items()} | {f"random, {k}": v for k, v in rand_results.items()}
for i, (label, res) in enumerate(curves.items()):
    st = plot.style(i)
    mean, lo, hi = stats.curve_ci(res.true_task_posterior)
    ax.plot(res.episodes, mean, label=f"measured: {label} (mean, 95% band)", **st)
    ax.fill_between(res.episodes, lo, hi, color=st["color"], alpha=0.2, linewidth=0)
rho = np.asarray(env.prior, np.float64)
ax.axhline(np.sum(rho**2), color="black", linewidth=0.8, linestyle=(0, (1, 2)),
           label=f"theory: hard, BAIL's posterior stays at the prior, E[rho(z)] = {np.sum(rho**2):.2f}")
ax.set(xscale="log", ylim=(0, 1.02), xlabel="episode t", ylabel="posterior mass on the true task\n(end of episode t)",
       title=f"posterior concentration, {SEEDS} seeds")
ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
plt.show()

# %% [markdown]
# ## 4. Replay: the posterior and BAIL step by step
#
# `jaxbail.replay.replay` feeds a given trajectory through the exact filter and returns, at every decision,
# the task posterior and BAIL's subgoal distribution (the same output as `jaxbail replay --json`). The
# trajectory below is written by hand on `hard` with `H = 3` and `reveal = 0.5`, true task `z = 1`
# (states: 0 home, `1 + z` signposts; subgoals: 0, 1, 2 arms, 3 the probe):
#
# * episode 0: three arm pulls; every arm returns home in every task, so nothing is learned;
# * episode 1: an exploration episode: the probe stays home (probability `1 - reveal`, the same in every
#   task: still nothing learned), the probe again shows signpost 2 (task 1), then arm 1;
# * episode 2: BAIL now pulls arm 1 with probability 1.
#
# Observations list `o_1 .. o_{H+1}`; step `h` is the decision that chooses `g_{h+1}` after seeing
# `o_1 .. o_{h+1}`.

# %%
from jaxbail.replay import replay

short = jaxbail.instances.hard(num_tasks=3, horizon=3, prior=[0.5, 0.3, 0.2], reveal=0.5)
trajectory = [  # (observations o_1..o_4, subgoals g_1..g_3)
    ([0, 0, 0, 0], [0, 0, 1]),
    ([0, 0, 2, 0], [3, 3, 1]),
    ([0, 0, 0, 0], [1, 1, 1]),
]
steps = replay(short, trajectory)["steps"]
print("ep step  obs | task posterior w(0) w(1) w(2) | BAIL: arm0 arm1 arm2 probe | chosen")
for s in steps:
    obs, subgoals = trajectory[s["episode"]]
    post, bail = np.round(s["task_posterior"], 3), np.round(s["bail"], 3)
    print(f"{s['episode']:>2} {s['step']:>4} {obs[s['step']]:>4} | {post[0]:>20} {post[1]:>4} {post[2]:>4} |"
          f" {bail[0]:>10} {bail[1]:>4} {bail[2]:>4} {bail[3]:>5} | {subgoals[s['step']]:>6}")

# %%
post = np.array([s["task_posterior"] for s in steps])
bail = np.array([s["bail"] for s in steps])
x = np.arange(len(steps))
ticks = [f"t{s['episode']} h{s['step']}" for s in steps]
fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 5.4), sharex=True)
markers, lines = ["o", "s", "^", "D"], ["-", "--", "-.", ":"]
greys = ["black", "0.35", "0.6", "0.45"]
for z in range(short.num_tasks):
    ax1.plot(x, post[:, z], marker=markers[z], linestyle=lines[z], color=greys[z], label=f"w(z={z})"
             + (" (true task)" if z == 1 else ""))
for g in range(short.num_subgoals):
    ax2.plot(x, bail[:, g], marker=markers[g], linestyle=lines[g], color=greys[g],
             label=f"arm {g}" if g < short.num_tasks else "probe")
for ax in (ax1, ax2):
    for boundary in range(short.horizon, len(steps), short.horizon):
        ax.axvline(boundary - 0.5, color="0.7", linewidth=0.8)
    ax.set_ylim(-0.03, 1.03)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
ax1.set(ylabel="task posterior", title="replay on hard (H=3, reveal=0.5): exact posterior and BAIL at each decision")
ax2.set(ylabel="BAIL's subgoal\nprobability", xlabel="decision (episode t, step h)")
ax2.set_xticks(x, ticks, rotation=45, fontsize=8)
fig.tight_layout()
plt.show()

# %% [markdown]
# The probe's first (uninformative) outcome leaves the posterior at the prior; its second outcome reveals
# the task, and BAIL switches from the prior mixture of arms to the true task's expert. BAIL never plays the
# probe itself (its probability stays 0): only exploration finds it, which is why BAIL's regret on `hard` is
# linear and epsilon-BAIL's is not.

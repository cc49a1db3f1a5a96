# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Beyond the paper's assumptions
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/jaxbail/jaxbail/blob/main/notebooks/06_assumptions.ipynb)
#
# The theory assumes an injective Reporter, a correct prior, a pretraining distribution whose behaviour policy
# does not depend on the task, and an Actor that does what it is told. `jaxbail.claims.assumptions` runs one
# experiment without each: BAIL and eps-BAIL (`anytime:1`) on the same seeds, regret against `T`, the SPEC 6
# bound drawn only for the cells it covers (each figure says where it does not), and a sentence computed from
# the numbers. `jaxbail reproduce` runs the same experiments at its own sizes.

# %%
# In Colab: install jaxbail from GitHub (JAX, flax and optax are preinstalled there).
# Anywhere else this cell does nothing: install the package yourself (pip install ".[plot]").
import sys

if "google.colab" in sys.modules:
    get_ipython().run_line_magic("pip", "install -q git+https://github.com/jaxbail/jaxbail")  # noqa: F821

# %%
import os

# JAXBAIL_NOTEBOOK_SMALL=1 (set by tests/test_notebooks.py) shrinks every run to a smoke test;
# the committed outputs use the full settings (about a minute on 2 CPU cores).
SMALL = os.environ.get("JAXBAIL_NOTEBOOK_SMALL") == "1"
if SMALL:
    EPISODES, SEEDS = 40, 8
else:
    EPISODES, SEEDS = 1000, 32
print(f"SMALL = {SMALL}: EPISODES = {EPISODES}, SEEDS = {SEEDS}")

# %%
import tempfile
import warnings
from pathlib import Path

warnings.filterwarnings("ignore", message="IProgress not found")  # tqdm without ipywidgets

import jax
from IPython.display import Image, display

import jaxbail
from jaxbail.claims import assumptions

settings = {**assumptions.SETTINGS["quick"], "episodes": EPISODES, "seeds": SEEDS}
if SMALL:
    settings.update(noise=[0.0, 0.3], model_mass=[1 / 3, 1e-6], slip=[0.0, 0.3])
out_dir = Path(tempfile.mkdtemp(prefix="jaxbail-assumptions-"))
print(f"jaxbail {jaxbail.__version__}, jax {jax.__version__} on {jax.devices()[0].platform}")
print({k: settings[k] for k in ("noise", "model_mass", "delusional_eps", "slip", "anytime")})


def show(name: str, result: dict) -> None:
    """Draw one experiment's figure and print its sentence and its cells' numbers."""
    one = {"experiments": {name: result}}
    for path in assumptions.figure(one, out_dir):
        if path.suffix == ".png":
            display(Image(filename=str(path)))
    print(assumptions.sentence(result))
    for c in result["cells"]:
        bound = "" if c["theory_kind"] != "upper_bound" else f", bound {c['theory_value']:.0f}"
        print(f"  {c['group']:<45} {c['label']:<20} regret {c['regret']:8.1f}  slope {c['slope']:.2f}{bound}")


results = {}

# %% [markdown]
# ## 1. Noisy and aliased Reporters
#
# `random` with `reporter = noisy` (noise on a grid) and `aliased` (`o = s mod 2`). Regret is measured against
# the optimum that sees the state: a Reporter that hides it leaves a per-episode loss no planner removes.

# %%
results["reporter"] = assumptions.run_experiment("reporter", settings)
show("reporter", results["reporter"])

# %% [markdown]
# ## 2. A wrong prior
#
# The Planner's model of `hard` puts mass `m` on task 0 (the environment's prior is uniform): KL on a grid,
# down to `m = 1e-6`. On this frozen-posterior instance BAIL plays the model prior's mixture of experts, so its
# regret is an exact line (`wrong_prior_line`), which the measurement is checked against.

# %%
results["wrong_prior"] = assumptions.run_experiment("wrong_prior", settings)
show("wrong_prior", results["wrong_prior"])
for c in results["wrong_prior"]["cells"]:
    if c["label"] == "BAIL":
        print(f"  mass {c['grid']:.0e}: measured {c['per_episode_regret']:.3f} +- {c['per_episode_regret_se']:.3f} "
              f"per episode, exact line {c['exact_line_per_episode']:.3f}")

# %% [markdown]
# ## 3. The delusional posterior
#
# A model pretrained on pure expert demonstrations counts the Planner's own subgoals as expert evidence
# (`belief = "delusional"`). How often does it rule out the true task, and what does exploration do?

# %%
results["delusional"] = assumptions.run_experiment("delusional", settings)
show("delusional", results["delusional"])

# %% [markdown]
# ## 4. An Actor that slips
#
# `actor_slip`: the Actor reaches its target only with probability `1 - slip`; the Planner's model either knows
# the slip or assumes an obedient Actor.

# %%
results["actor_slip"] = assumptions.run_experiment("actor_slip", settings)
show("actor_slip", results["actor_slip"])

# %%
print(assumptions.verdict({"experiments": results}))

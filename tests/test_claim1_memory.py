"""Claim 1 with memory: prefix codes across episodes, the memoryless predictor, the verdict."""

import copy

import jax
import numpy as np

from jaxbail.claims import claim1_memory
from jaxbail.instances import hard
from jaxbail.llm.data import bail_targets, sample_prompts


def _brute_codes(obs, subs):
    """Each decision's prefix as a tuple, numbered by first appearance (the independent reference)."""
    n, k_count, hp = obs.shape
    seen, out = {}, np.empty((n, k_count, hp - 1), np.int64)
    for i in range(n):
        prefix = ()
        for k in range(k_count):
            for h in range(hp):
                prefix += (("o", int(obs[i, k, h])),)
                if h < hp - 1:
                    out[i, k, h] = seen.setdefault(prefix, len(seen))
                    prefix += (("g", int(subs[i, k, h])),)
    return out


def test_prefix_codes_are_equal_exactly_when_the_prefixes_are():
    rng = np.random.default_rng(0)
    obs, subs = rng.integers(0, 2, (300, 3, 3)), rng.integers(0, 2, (300, 3, 2))
    codes, brute = claim1_memory.prefix_codes(obs, subs, 2), _brute_codes(obs, subs)
    a, b = codes.reshape(-1), brute.reshape(-1)
    assert np.array_equal(a[:, None] == a[None, :], b[:, None] == b[None, :])


def test_memoryless_predictor_is_bail_of_each_episode_alone():
    inst = hard(**claim1_memory.MEMORY_INSTANCE)
    prompts = sample_prompts(jax.random.PRNGKey(1), inst, 50, 3)
    memory, reset = np.asarray(bail_targets(inst, prompts)), claim1_memory.reset_bail(inst, prompts)
    np.testing.assert_array_equal(reset[:, 0], memory[:, 0])  # the first episode starts from the prior in both
    for k in range(3):
        alone = sample_prompts(jax.random.PRNGKey(1), inst, 50, 3)._replace(
            observations=prompts.observations[:, k:k + 1], subgoals=prompts.subgoals[:, k:k + 1])
        np.testing.assert_allclose(reset[:, k], np.asarray(bail_targets(inst, alone))[:, 0], atol=1e-7)
    # after the probe showed the task in episode 1, BAIL with memory plays that task's expert from the start
    shown = np.asarray(prompts.observations[:, 0]).max(axis=1) >= 1
    assert shown.any()
    first = memory[shown, 1, 0]  # [n, G] episode 2, step 1
    np.testing.assert_allclose(first.max(axis=-1), 1.0, atol=1e-6)
    np.testing.assert_allclose(reset[shown, 1, 0, :2], 0.5, atol=1e-6)  # memoryless: back to the prior


def test_claim1_memory_runs_small_and_its_verdict_flips(tmp_path):
    settings = {"seed": 0, "episodes": 3, "sizes": [200, 2_000, 20_000], "replicates": 2, "heldout": 500,
                "llm_heldout": 200, "llm_max_n": 1024}
    result = claim1_memory.run(settings)
    assert len(result["tv_bail_per_episode"]) == 3 and len(result["tv_bail_per_episode"][0]) == 3
    assert result["bail_vs_reset_per_episode"][0] == 0.0 and result["bail_vs_reset_per_episode"][2] > 0.0
    assert "sampling rate of a frequency" in result["reference"]
    assert [p["N"] for p in result["llm"]["points"]] == [1024]  # llm_max_n keeps the smallest shipped model
    assert len(result["llm"]["frequency_tv"]) == 1 and 0 < result["llm"]["frequency_tv"][0] < 1
    assert {p.name for p in claim1_memory.figure(result, tmp_path)} == {"claim1_memory_multi_episode.png",
                                                                         "claim1_memory_multi_episode.pdf"}
    assert claim1_memory.rows(result)[0]["verdict"] == claim1_memory.verdict(result)
    good = {"tv_bail_later": [[0.1, 0.03, 0.01], [0.1, 0.03, 0.01]],
            "later": {"slope_ci95": [-0.55, -0.45], "tv_at_largest_N": 0.01, "tv_at_largest_N_se": 0.001,
                      "tv_to_reset_at_largest_N": 0.2, "tv_to_reset_at_largest_N_se": 0.001}}
    assert claim1_memory.verdict(good) == "supported"
    steep = copy.deepcopy(good)
    steep["later"]["slope_ci95"] = [-0.8, -0.6]
    assert claim1_memory.verdict(steep) == "not supported"
    flat = copy.deepcopy(good)
    flat["tv_bail_later"] = [[0.1, 0.03, 0.04], [0.1, 0.03, 0.04]]
    assert claim1_memory.verdict(flat) == "not supported"
    memoryless = copy.deepcopy(good)
    memoryless["later"]["tv_to_reset_at_largest_N"] = 0.012
    assert claim1_memory.verdict(memoryless) == "not supported"

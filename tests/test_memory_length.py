"""The memory-length experiment (``jaxbail.claims.memory_length``) on small settings."""

from __future__ import annotations

import copy
import json
import math

import pytest

from jaxbail.claims import memory_length as ml
from jaxbail.llm.checkpoint import shipped_checkpoint

# the shipped hard checkpoints' sizes (Z = 3, H = 5): a checkpoint of its own at K = 4 (given by path; the recurrent
# model, so it shares the whole history's compile), the ALiBi transformer deployed with a 1-episode window, the
# recurrent model (by its shipped name) for the whole history
SMALL = {"episodes": 40, "seeds": 250, "eps": 0.2, "windows": [1, 2, 4], "instance": {"num_tasks": 3, "horizon": 5},
         "seed": 3, "window_checkpoint": "hard-alibi", "llm_windows": [1],
         "checkpoints": {"4": str(shipped_checkpoint("hard-recurrent")), "unbounded": "hard-recurrent"}}


@pytest.fixture(scope="module")
def result():
    return ml.run(copy.deepcopy(SMALL))


def test_every_window_matches_the_closed_form_and_the_record_is_json(result):
    json.dumps(result)
    assert [e["window"] for e in result["entries"]] == [1, 2, 4, None]
    for e in result["entries"]:
        assert abs(e["z"]) <= 4.0, e
        assert abs(e["per_episode_last"] - e["per_episode_last_closed_form"]) <= 4 * e["per_episode_last_se"], e
    finals = [e["closed_form"] for e in result["entries"]]
    assert finals == sorted(finals, reverse=True)
    # the window's own delta to whole-history BAIL: positive for every finite K, shrinking as the window grows
    # (a longer memory forgets a revealing episode less often)
    window_deltas = [e["window_delta"]["mean"] for e in result["entries"][:3]]
    assert all(0.0 < d < 1.0 for d in window_deltas) and window_deltas == sorted(window_deltas, reverse=True)
    llm = result["entries"][2]["eps_llm"]
    assert 0.0 <= llm["delta"] <= 1.0 and llm["regret"] > 0 and llm["delta_seeds"] > 0
    assert "eps_llm" not in result["entries"][1]
    # which model ran where: a checkpoint of its own at K = 4, the ALiBi model with the cell's window, the
    # recurrent model (no window) for the whole history
    picked = {e["window"]: (e["eps_llm"]["checkpoint"], e["eps_llm"]["deployed_window"], e["eps_llm"]["family"],
                            e["eps_llm"]["trained_episodes"]) for e in result["entries"] if "eps_llm" in e}
    assert picked == {1: ("hard-alibi", 1, "transformer", 16), 4: (str(shipped_checkpoint("hard-recurrent")), None,
                                                                  "recurrent", 16),
                      None: ("hard-recurrent", None, "recurrent", 16)}
    assert result["checkpoints"]["1"] == {"checkpoint": "hard-alibi", "window": 1}
    for e in result["entries"]:  # the paired excess over the exact planner with the same memory
        if "eps_llm" in e:
            assert e["eps_llm"]["excess_over_exact_se"] > 0 and math.isfinite(e["eps_llm"]["excess_over_exact"])
            assert len(e["eps_llm"]["regret_mean_curve"]) == len(e["curve"]["episodes"])


def test_table_rows_verdict_and_figure(result, tmp_path):
    table = ml.table(result)
    assert [r["K"] for r in table] == ["1", "2", "4", "unbounded"]
    assert table[2]["eps_llm_delta"] == result["entries"][2]["eps_llm"]["delta"] and table[1]["eps_llm_regret"] is None
    assert table[0]["eps_llm_checkpoint"] == "hard-alibi" and table[3]["eps_llm_checkpoint"] == "hard-recurrent"
    assert table[0]["window_delta"] == result["entries"][0]["window_delta"]["mean"] and table[3]["window_delta"] == 0.0
    text = ml.describe(result)
    assert result["description"] == text
    assert "regret falls monotonically" in text and "every K is within 4 SE of the closed form" in text
    assert "eps_llm (regret, paired excess over the exact planner of the same memory): K = 1:" in text
    # the claim-module convention: a pure verdict, stored last; one summary row with the five columns
    assert result["verdict"] == ml.verdict(result) == "supported" and list(result)[-1] == "verdict"
    assert result["claim"] == ml.NAME and result["criterion"] == ml.CRITERION
    (row,) = ml.rows(result)
    assert set(row) == {"claim", "measured", "theory", "criterion", "verdict"} and row["verdict"] == "supported"
    e0 = result["entries"][0]
    assert row["measured"].startswith(text) and f"K = 1: {e0['regret']:.1f} +- {e0['regret_se']:.1f}" in row["measured"]
    assert f"window delta {e0['window_delta']['mean']:.3f}" in row["measured"]
    # the description and the verdict read the numbers: a point far from the closed form, a regret that grows with K
    bad = copy.deepcopy(result)
    bad["entries"][1]["z"] = -7.5
    bad["entries"][1]["regret"] = bad["entries"][0]["regret"] + 1.0
    text = ml.describe(bad)
    assert "does not fall" in text and "NOT every K is within 4 SE" in text and "|z| = 7.50 at K = 2" in text
    assert ml.verdict(bad) == "not supported"
    bad["entries"][1]["z"] = 3.9  # within 4 SE again; not monotone is described, not checked
    assert ml.verdict(bad) == "supported"
    # the smallest window must pay more than the whole history by more than 4 SE of the difference
    close = copy.deepcopy(result)
    unbounded = close["entries"][-1]
    se = math.hypot(close["entries"][0]["regret_se"], unbounded["regret_se"])
    close["entries"][0]["regret"] = unbounded["regret"] + 3.9 * se
    assert ml.verdict(close) == "not supported"
    close["entries"][0]["regret"] = unbounded["regret"] + 4.1 * se
    assert ml.verdict(close) == "supported"
    paths = ml.figure(result, tmp_path)
    assert [p.name for p in paths] == ["memory_length.png", "memory_length.pdf"]
    assert all(p.stat().st_size > 1000 for p in paths)


def test_settings_and_validation():
    assert set(ml.SETTINGS) == {"quick", "full"} and ml.SETTINGS["full"]["episodes"] == 2000
    full = ml.SETTINGS["full"]
    assert full["windows"] == [1, 2, 4, 8, 16, 32, 64] and full["checkpoints"] == {"unbounded": "hard-recurrent"}
    assert full["window_checkpoint"] == "hard-alibi" and "llm_windows" not in full  # every K in the full run
    with pytest.raises(ValueError, match=r"llm_windows: \[1, 8\] are not all among the windows \[1, 2, 4\]"):
        ml.run({**SMALL, "llm_windows": [8, 1]})
    with pytest.raises(ValueError, match=r"checkpoints: K = 8 is not among the windows \[1, 2\]"):
        ml.run({**SMALL, "windows": [1, 2], "checkpoints": {8: "x"}})
    with pytest.raises(ValueError, match="checkpoints: keys must be a window K or 'unbounded', got 'big'"):
        ml.run({**SMALL, "checkpoints": {"big": "x"}})

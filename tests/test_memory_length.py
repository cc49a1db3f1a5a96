"""The memory-length experiment (``jaxbail.claims.memory_length``) on small settings."""

from __future__ import annotations

import copy
import json

import pytest

from jaxbail.claims import memory_length as ml
from jaxbail.llm.checkpoint import shipped_checkpoint

# the shipped hard checkpoint's sizes (Z = 3, H = 5, a 4-episode context)
SMALL = {"episodes": 40, "seeds": 250, "eps": 0.2, "windows": [1, 2, 4], "instance": {"num_tasks": 3, "horizon": 5},
         "seed": 3, "checkpoints": {"4": str(shipped_checkpoint("hard"))}}


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
    assert all("eps_llm" not in e for i, e in enumerate(result["entries"]) if i != 2)


def test_rows_verdict_and_figure(result, tmp_path):
    table = ml.rows(result)
    assert [r["K"] for r in table] == ["1", "2", "4", "unbounded"]
    assert table[2]["eps_llm_delta"] == result["entries"][2]["eps_llm"]["delta"] and table[0]["eps_llm_regret"] is None
    assert table[0]["window_delta"] == result["entries"][0]["window_delta"]["mean"] and table[3]["window_delta"] == 0.0
    text = ml.verdict(result)
    assert "regret falls monotonically" in text and "every K is within 4 SE of the closed form" in text
    assert "eps_llm: K = 4:" in text
    # the verdict reads the numbers: a point far from the closed form, a regret that grows with K
    bad = copy.deepcopy(result)
    bad["entries"][1]["z"] = -7.5
    bad["entries"][1]["regret"] = bad["entries"][0]["regret"] + 1.0
    text = ml.verdict(bad)
    assert "does not fall" in text and "NOT every K is within 4 SE" in text and "|z| = 7.50 at K = 2" in text
    paths = ml.figure(result, tmp_path)
    assert [p.suffix for p in paths] == [".png", ".pdf"] and all(p.stat().st_size > 1000 for p in paths)


def test_settings_and_validation():
    assert set(ml.SETTINGS) == {"quick", "full"} and ml.SETTINGS["full"]["episodes"] == 2000
    assert ml.SETTINGS["full"]["windows"] == [1, 2, 4, 8, 16, 32, 64] and ml.SETTINGS["full"]["checkpoints"] == {}
    with pytest.raises(ValueError, match=r"checkpoints: K = 8 is not among the windows \[1, 2\]"):
        ml.run({**SMALL, "windows": [1, 2], "checkpoints": {8: "x"}})
    with pytest.raises(ValueError, match="checkpoints: keys must be a window K or 'unbounded', got 'big'"):
        ml.run({**SMALL, "checkpoints": {"big": "x"}})

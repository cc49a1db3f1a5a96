"""The pretrained planner from the command line (pretrain, run --checkpoint) and SPEC 6's practical bound."""

import json
import math

import jax
import numpy as np
import pytest

from jaxbail import theory
from jaxbail.cli import main
from jaxbail.instances import hard
from jaxbail.planners import make_planner
from jaxbail.runner import simulate

SMALL_HARD = ["--instance", "hard", "--param", "num_tasks=2", "--param", "horizon=3"]
TINY_TRAINING = ["--trajectories", "64", "--steps", "4", "--width", "16", "--heads", "2", "--layers", "1",
                 "--context-episodes", "2", "--heldout", "8", "--deploy-episodes", "2", "--deploy-seeds", "8",
                 "--no-progress"]


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "tiny.msgpack"
    assert main(["pretrain", *SMALL_HARD, "--out", str(path), *TINY_TRAINING]) == 0
    return path


def test_pretrain_writes_weights_and_a_side_file_with_the_training_record(tiny_checkpoint, capsys):
    side = json.loads(tiny_checkpoint.with_suffix(".json").read_text())
    assert side["model_config"]["width"] == 16 and side["model_config"]["context_episodes"] == 2
    record = side["record"]
    assert record["num_trajectories"] == 64 and record["steps"] == 4
    assert record["deployment"]["episodes"] == 2 and record["deployment"]["seeds"] == 8
    assert 0.0 <= record["heldout"]["delta"] <= 1.0 and 0.0 <= record["deployment"]["delta"] <= 1.0


def test_run_llm_from_a_checkpoint_reports_its_delta_and_no_number_without_exploration(tiny_checkpoint, capsys):
    code, out, err = run_cli(capsys, "run", *SMALL_HARD, "--planner", "llm", "--checkpoint", str(tiny_checkpoint),
                             "--episodes", "6", "--seeds", "16", "--json", "--no-progress")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["checkpoint"] == str(tiny_checkpoint)
    lo, hi = summary["delta"]["ci95"]
    assert lo <= summary["delta"]["mean"] <= hi and summary["delta"]["seeds"] == 16
    assert summary["theory"] is None
    # hard with 2 tasks and H = 3: BAIL's exact line is H (1 - 1/2) = 1.5 per episode
    assert "BAIL only up to its measured delta" in summary["theory_note"]
    assert "c = 1.5 per episode" in summary["theory_note"]


def test_eps_llm_carries_the_practical_bound_with_the_delta_measured_in_the_run(tiny_checkpoint, capsys):
    code, out, err = run_cli(capsys, "run", *SMALL_HARD, "--planner", "eps_llm", "--eps", "0.2",
                             "--checkpoint", str(tiny_checkpoint), "--episodes", "8", "--seeds", "32", "--json",
                             "--no-progress")
    assert code == 0, err
    summary = json.loads(out)
    th = summary["theory"]
    assert th["kind"] == "upper_bound" and th["formula"].endswith("+ (1-eps)*T*H*delta*Dmax")
    delta = min(1.0, summary["delta"]["ci95"][1])
    instance = hard(num_tasks=2, horizon=3)
    dmax, c_const, eta = theory.bound_constants(instance)
    eps, t, h = 0.2, 8, 3
    expected = eps * t * h + h * dmax * c_const / (eps * eta.lo) + (1 - eps) * t * h * delta * dmax
    assert th["value"] == pytest.approx(expected, rel=1e-6)  # eps is a float32 leaf of the planner
    # delta is measured on the planner's own decisions: fewer seeds when some explored in every episode
    assert 1 <= summary["delta"]["seeds"] <= 32


@pytest.mark.parametrize("argv, message", [
    (["run", "--instance", "hard", "--planner", "llm", "--checkpoint", "/no/such.msgpack"],
     "checkpoint: no such weights file '/no/such.msgpack'"),
    (["run", "--instance", "actor_slip", "--planner", "llm"],
     "no shipped checkpoint for instance 'actor_slip'"),
    (["run", "--instance", "hard", "--planner", "bail", "--checkpoint", "x.msgpack"],
     "--checkpoint applies to llm and eps_llm, not to 'bail'"),
    (["run", "--instance", "coordination", "--planner", "eps_llm"],
     "--planner eps_llm: the pretrained model reads one Actor's history"),
    (["pretrain", "--instance", "hard", "--out", "/no/such/dir/x.msgpack"],
     "--out: directory '/no/such/dir' does not exist"),
    (["pretrain", "--instance", "hard", "--out", "x.msgpack", "--width", "10", "--heads", "4"],
     "pretrain: width: must be a multiple of heads = 4, got 10"),
    (["pretrain", "--instance", "hard", "--out", "x.msgpack", "--behaviour", "greedy"],
     "pretrain: behaviour: expected 'uniform', 'dirichlet[:ALPHA]', 'eps-bail[:EPS]', 'never-play:G', 'no-probe' "
     "or an array, got 'greedy'"),
    (["pretrain", "--instance", "hard", "--out", "x.msgpack", "--model", "lstm"],
     "--model: expected one of transformer, recurrent, got 'lstm'"),
    (["pretrain", "--instance", "hard", "--out", "x.msgpack", "--model", "transformer", "--positions", "rope"],
     "--positions: expected one of absolute, alibi, got 'rope'"),
    (["pretrain", "--instance", "hard", "--out", "x.msgpack", "--behaviour", "never-play:7"],
     "pretrain: behaviour: subgoal 7 out of range [0, 3]"),
    (["pretrain", "--instance", "hard", "--out", "x.msgpack", "--steps", "0"],
     "--steps must be a positive integer, got 0"),
    (["pretrain", "--instance", "hard", "--out", "x.msgpack", "--lr", "-1"],
     "--lr must be a finite number > 0, got -1"),
    (["pretrain", "--instance", "coordination", "--out", "x.msgpack"],
     "pretrain: the transformer reads one Actor's history"),
])
def test_bad_llm_input_gets_one_line_and_exit_2(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    run_args = ["--episodes", "3", "--seeds", "2", "--no-progress"] if argv[0] == "run" else []
    code, out, err = run_cli(capsys, *argv, *run_args)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err, err


def test_a_checkpoint_for_other_sizes_is_refused_by_name(tiny_checkpoint, capsys):
    code, out, err = run_cli(capsys, "run", "--instance", "hard", "--planner", "llm", "--checkpoint",
                             str(tiny_checkpoint), "--episodes", "3", "--seeds", "2")
    assert code == 2 and err.count("\n") == 1
    assert "instance sizes differ (checkpoint vs given): Z=2 vs 3, S=3 vs 4, G=3 vs 4, O=3 vs 4, H=3 vs 5" in err


def test_measured_tv_leaves_out_exploration_episodes():
    """eps-BAIL is BAIL outside exploration: TV 0 on its own decisions, NaN in exploration episodes."""
    instance = hard(num_tasks=2, horizon=3)
    run = simulate(jax.random.PRNGKey(3), instance, make_planner("eps_bail", eps_scale=0.5), num_episodes=40,
                   num_seeds=64, measure_tv=True, log_points=np.arange(1, 41), progress=False)
    explored = np.isnan(run.tv_to_bail)
    share = explored.mean()
    assert abs(share - 0.5) < 4 * math.sqrt(0.25 / explored.size)
    np.testing.assert_array_equal(run.tv_to_bail[~explored], 0.0)
    np.testing.assert_array_equal(run.mean_tv_to_bail, 0.0)
    # a planner that never explores keeps every episode, and the uniform policy is far from BAIL
    uniform = simulate(jax.random.PRNGKey(3), instance, make_planner("uniform"), num_episodes=5, num_seeds=8,
                       measure_tv=True, progress=False)
    assert np.isfinite(uniform.tv_to_bail).all() and (uniform.mean_tv_to_bail > 0.3).all()


def test_practical_bound_adds_one_minus_eps_h_delta_dmax_per_episode():
    dmax, c_const, eta, horizon, delta = 0.7, 2.0, 0.3, 4, 0.05
    episodes = np.array([1, 5, 50, 400])
    fixed = theory.epsilon_bound_curve(horizon, dmax, c_const, eta, episodes, 0.1, 0.0, delta)
    np.testing.assert_allclose(fixed, theory.epsilon_bound_curve(horizon, dmax, c_const, eta, episodes, 0.1, 0.0)
                               + 0.9 * episodes * horizon * delta * dmax, rtol=1e-12)
    decaying = theory.epsilon_bound_curve(horizon, dmax, c_const, eta, episodes, 1.0, 0.5, delta)
    total, survive, manual = 0.0, 1.0, {}
    for t in range(1, 401):
        eps_t = min(1.0, t ** -0.5)
        total += min(horizon, eps_t * horizon + horizon * dmax * c_const * survive
                     + (1 - eps_t) * horizon * delta * dmax)
        survive *= 1 - eta * eps_t
        manual[t] = total
    np.testing.assert_allclose(decaying, [manual[t] for t in episodes], rtol=1e-12)


def test_theory_refuses_a_delta_outside_zero_one():
    with pytest.raises(ValueError, match=r"delta: must be a total variation in \[0, 1\], got 1.5"):
        theory.theory_for(hard(), make_planner("eps_bail"), 10, delta=1.5)


# ----------------------------------------------------------------------------- claim 4's verdicts


def _series(deltas, excess_per_episode, se=0.1, episodes=(1, 10, 100)):
    t = np.asarray(episodes, float)
    return [{"delta": {"mean": d, "ci95": [d - 0.005, d + 0.005]}, "episodes": list(episodes),
             "excess_mean": (e * t).tolist(), "excess_se": [se] * len(t),
             "predicted": (0.9 * t * 4 * (d + 0.005)).tolist(), "diff_se_to_smallest": se}
            for d, e in zip(deltas, excess_per_episode)]


def test_claim4_excess_verdict_follows_the_numbers():
    from jaxbail.claims.claim4 import verdict_excess

    good = verdict_excess(_series([0.2, 0.07, 0.02], [0.3, 0.1, 0.03]))
    assert good["supported"] and good["all_under"] and good["shrinks"]
    # an excess above its prediction (+4 SE) at some T >= 10
    over = verdict_excess(_series([0.2, 0.07, 0.02], [0.3, 0.1, 0.2]))
    assert not over["supported"] and over["under"] == [True, True, False]
    # an excess that does not shrink with delta
    flat = verdict_excess(_series([0.2, 0.07, 0.02], [0.05, 0.05, 0.05]))
    assert flat["all_under"] and not flat["shrinks"] and not flat["supported"]
    # delta intervals that overlap: the ordering is not established
    close = verdict_excess(_series([0.2, 0.195, 0.02], [0.3, 0.1, 0.03]))
    assert not close["delta_separated"] and not close["supported"]


def test_claim4_llm_linear_verdict_follows_the_numbers():
    from jaxbail.claims.claim4 import verdict_llm_linear

    ok = dict(per_episode=3.31, per_episode_se=0.01, slope=0.999, line=3.3333, horizon=5, delta_hi=0.011, dmax=1.0)
    assert verdict_llm_linear(**ok)["supported"]
    assert not verdict_llm_linear(**{**ok, "slope": 0.9})["supported"]
    assert not verdict_llm_linear(**{**ok, "per_episode": 3.0})["near_bail_line"]


def test_pretrain_records_the_family_and_a_mismatched_checkpoint_is_one_line_exit_2(tiny_checkpoint, capsys,
                                                                                     tmp_path):
    side = json.loads(tiny_checkpoint.with_suffix(".json").read_text())
    assert side["model_config"]["family"] == "recurrent" and side["record"]["family"] == "recurrent"
    assert side["record"]["behaviour"] == "eps-bail"  # the recurrent presets' data
    # the transformer family, ALiBi positions by default: run picks the ring-buffer planner from the side file
    path = tmp_path / "t.msgpack"
    assert main(["pretrain", *SMALL_HARD, "--out", str(path), "--model", "transformer", *TINY_TRAINING]) == 0
    capsys.readouterr()
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["model_config"]["family"] == "transformer" and meta["model_config"]["positions"] == "alibi"
    code, out, err = run_cli(capsys, "run", *SMALL_HARD, "--planner", "eps_llm", "--eps", "0.3", "--checkpoint",
                             str(path), "--episodes", "4", "--seeds", "4", "--json", "--no-progress")
    assert code == 0, err
    # the side file names the other family: the weights do not fit, one line and exit 2
    meta["model_config"]["family"] = "recurrent"
    path.with_suffix(".json").write_text(json.dumps(meta))
    code, out, err = run_cli(capsys, "run", *SMALL_HARD, "--planner", "llm", "--checkpoint", str(path),
                             "--episodes", "3", "--seeds", "2", "--no-progress")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "do not match the model config (family 'recurrent')" in err


def test_run_llm_window_deploys_an_alibi_checkpoint_and_is_refused_for_the_other_families(capsys):
    from jaxbail.llm.checkpoint import shipped_checkpoint
    from jaxbail.llm.planner import RingLlmPlanner

    alibi = shipped_checkpoint("hard-alibi")
    run = ("--instance", "hard", "--episodes", "3", "--seeds", "4", "--no-progress")
    code, out, err = run_cli(capsys, "run", *run, "--planner", "eps_llm", "--eps", "0.2", "--checkpoint", str(alibi),
                             "--window", "40", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["window"] == 40 and summary["planner"] == "eps_llm"
    # the window reaches the planner (default: the 16-episode training prompts)
    planner = make_planner("llm", instance=hard(), checkpoint=alibi, window=40)
    assert isinstance(planner, RingLlmPlanner) and planner.window == 40
    assert make_planner("llm", instance=hard(), checkpoint=alibi).window == 16
    for name in ("hard-recurrent", "hard"):  # no window to set: one line, exit 2
        code, out, err = run_cli(capsys, "run", *run, "--planner", "llm", "--checkpoint",
                                 str(shipped_checkpoint(name)), "--window", "3")
        assert code == 2 and out == "" and err.count("\n") == 1, err
        assert "run: window: only an ALiBi transformer's window can be set" in err

"""The command line: JSON contracts of run and replay, and one clear line for every bad input."""

import json
import subprocess
import sys

import numpy as np
import pytest

from jaxbail.cli import main
from jaxbail.instance import instance_to_dict
from jaxbail.instances import hard

REQUIRED_RUN_KEYS = {"planner", "episodes", "seeds", "regret_mean", "regret_ci95", "slope", "slope_ci95",
                     "per_episode_regret_last", "theory"}


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture()
def hard_file(tmp_path):
    path = tmp_path / "hard.json"
    path.write_text(json.dumps(instance_to_dict(hard(num_tasks=2, horizon=3))))
    return path


def test_run_json_has_the_spec_fields_and_exact_line_for_bail(capsys):
    code, out, err = run_cli(capsys, "run", "--instance", "hard", "--param", "num_tasks=2", "--param", "horizon=3",
                             "--planner", "bail", "--episodes", "50", "--seeds", "64", "--json", "--no-progress")
    assert code == 0, err
    summary = json.loads(out)
    assert REQUIRED_RUN_KEYS <= set(summary)
    assert summary["planner"] == "bail" and summary["episodes"] == 50 and summary["seeds"] == 64
    assert summary["theory"]["kind"] == "exact_line"
    # hard, uniform prior on 2 tasks: per-episode regret H (1 - 1/2) = 1.5
    assert summary["theory"]["value"] == pytest.approx(1.5 * 50, rel=1e-12)
    lo, hi = summary["regret_ci95"]
    assert lo <= summary["regret_mean"] <= hi


def test_run_fixed_mode_uses_the_given_task(capsys):
    code, out, err = run_cli(capsys, "run", "--instance", "hard", "--param", "prior=[0.2,0.3,0.5]",
                             "--planner", "bail", "--mode", "fixed", "--task", "2", "--episodes", "20",
                             "--seeds", "32", "--json", "--no-progress")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["mode"] == "fixed" and summary["task"] == 2
    # deterministic arms: each episode's regret has mean H (1 - rho(2)) = 5 * 0.5
    assert summary["theory"]["value"] == pytest.approx(20 * 5 * 0.5, rel=1e-6)


@pytest.mark.parametrize("eps, expect", [("0.25", 0.25), ("auto", None), ("anytime:2", "min(1, 2/sqrt(t))")])
def test_run_accepts_every_eps_form(capsys, eps, expect):
    code, out, err = run_cli(capsys, "run", "--instance", "hard", "--planner", "eps_bail", "--eps", eps,
                             "--episodes", "30", "--seeds", "16", "--json", "--no-progress")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["theory"]["kind"] == "upper_bound"
    if expect is None:
        assert 0 < summary["eps"]["eps"] <= 1
    else:
        assert summary["eps"]["eps"] == expect


def test_run_human_summary_mentions_regret_and_theory(capsys):
    code, out, _ = run_cli(capsys, "run", "--instance", "hard", "--planner", "uniform", "--episodes", "10",
                           "--seeds", "8", "--no-progress")
    assert code == 0
    assert "cumulative regret (gap estimator)" in out and "theory (exact line)" in out


def test_run_with_model_file_counts_misspecification(capsys, tmp_path):
    env = instance_to_dict(hard(num_tasks=2, horizon=3))
    model = json.loads(json.dumps(env))
    # the model believes the probe leads home; the environment shows the signpost
    for z in range(2):
        for s in range(3):
            model["transition"][z][s][2] = [1.0, 0.0, 0.0]
    env_path, model_path = tmp_path / "env.json", tmp_path / "model.json"
    env_path.write_text(json.dumps(env))
    model_path.write_text(json.dumps(model))
    code, out, err = run_cli(capsys, "run", "--instance-file", str(env_path), "--model-file", str(model_path),
                             "--planner", "uniform", "--episodes", "10", "--seeds", "16", "--json", "--no-progress")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["misspecification_events"] > 0
    assert summary["theory"] is None and "model differs" in summary["theory_note"]


def test_list_names_instances_and_planners(capsys):
    code, out, _ = run_cli(capsys, "list")
    assert code == 0
    for name in ("hard", "random", "actor_slip", "bail", "eps_bail", "psrl", "map", "uniform", "oracle"):
        assert name in out


def _bad_file(tmp_path, mutate):
    data = instance_to_dict(hard(num_tasks=2, horizon=3))
    text = mutate(data)
    path = tmp_path / "bad.json"
    path.write_text(text if isinstance(text, str) else json.dumps(data))
    return path


def _set(key, value):
    def mutate(data):
        data[key] = value
    return mutate


def _row(key, index, value):
    def mutate(data):
        arr = np.asarray(data[key])
        arr[index] = value
        data[key] = arr.tolist()
    return mutate


BAD_FILES = {
    "truncated": (lambda d: json.dumps(d)[:100], r"invalid JSON"),
    "missing_key": (lambda d: d.pop("emission") and None, r"emission: missing required key"),
    "wrong_shape": (_set("init", [[1.0, 0.0]]), r"init: expected shape \[Z, S\]"),
    "wrong_ndim": (_set("reward", [0.0, 1.0]), r"reward: expected shape \[Z, S, G\]"),
    "not_normalised": (_row("transition", (0, 0, 0), [0.5, 0.2, 0.2]), r"transition: .*must sum to 1"),
    "negative": (_row("init", 0, [1.5, -0.5, 0.0]), r"init: negative probability"),
    "above_one": (_row("emission", (1, 1), [0.0, 2.0, -1.0]), r"emission: (negative probability|probability 2 > 1)"),
    "zero_prior": (_set("prior", [1.0, 0.0]), r"prior: every entry must be > 0"),
    "reward_range": (_row("reward", (0, 0, 0), 1.5), r"reward: entries must lie in \[0, 1\]"),
    "bad_horizon": (_set("horizon", 0), r"horizon: must be >= 1"),
    "not_numbers": (_set("prior", ["a", "b"]), r"prior: must be a \(nested\) list of numbers"),
    "unknown_key": (_set("rewards", 1), r"rewards: unknown key"),
    "not_object": (lambda d: "[1, 2]", r"top level must be a JSON object"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_instance_file_gets_one_line_and_exit_2(capsys, tmp_path, case):
    mutate, pattern = BAD_FILES[case]
    path = _bad_file(tmp_path, mutate)
    code, out, err = run_cli(capsys, "run", "--instance-file", str(path), "--planner", "bail",
                             "--episodes", "5", "--seeds", "2")
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("jaxbail: error: ")
    assert __import__("re").search(pattern, err), err


def test_unreadable_instance_file(capsys, tmp_path):
    code, _, err = run_cli(capsys, "run", "--instance-file", str(tmp_path / "nope.json"), "--planner", "bail",
                           "--episodes", "5", "--seeds", "2")
    assert code == 2 and "cannot read" in err and len(err.strip().splitlines()) == 1


BAD_ARGS = {
    "unknown_instance": (["--instance", "nosuch", "--planner", "bail"], r"unknown instance 'nosuch'"),
    "unknown_planner": (["--instance", "hard", "--planner", "nosuch"], r"invalid choice: 'nosuch'"),
    "eps_above_one": (["--instance", "hard", "--planner", "eps_bail", "--eps", "1.5"], r"--eps: eps must lie in"),
    "eps_negative": (["--instance", "hard", "--planner", "eps_bail", "--eps", "-0.1"], r"--eps: eps must lie in"),
    "eps_garbage": (["--instance", "hard", "--planner", "eps_bail", "--eps", "often"], r"--eps: expected a number"),
    "bad_schedule": (["--instance", "hard", "--planner", "eps_bail", "--eps", "anytime:x"],
                     r"--eps: malformed schedule 'anytime:x'"),
    "bad_schedule_c": (["--instance", "hard", "--planner", "eps_bail", "--eps", "anytime:-1"],
                       r"--eps: malformed schedule"),
    "eps_for_bail": (["--instance", "hard", "--planner", "bail", "--eps", "0.1"], r"--eps applies to eps_\* planners"),
    "task_out_of_range": (["--instance", "hard", "--planner", "bail", "--mode", "fixed", "--task", "3"],
                          r"--task must be in \[0, 2\]"),
    "task_negative": (["--instance", "hard", "--planner", "bail", "--mode", "fixed", "--task", "-1"],
                      r"--task must be in \[0, 2\]"),
    "fixed_without_task": (["--instance", "hard", "--planner", "bail", "--mode", "fixed"],
                           r"--mode fixed needs --task"),
    "task_without_fixed": (["--instance", "hard", "--planner", "bail", "--task", "1"], r"--task needs --mode fixed"),
    "bad_param": (["--instance", "hard", "--param", "colour=red", "--planner", "bail"], r"colour: unknown parameter"),
    "bad_param_value": (["--instance", "hard", "--param", "reveal=2", "--planner", "bail"], r"reveal: must lie in"),
    "bad_prior_param": (["--instance", "hard", "--param", "prior=0.5,0.5", "--planner", "bail"],
                        r"prior: expected 3 entries"),
    "auto_on_noisy": (["--instance", "random", "--param", "reporter=noisy", "--planner", "eps_bail", "--eps", "auto"],
                      r"eps auto needs .* injective Reporter"),
}


@pytest.mark.parametrize("case", list(BAD_ARGS))
def test_bad_run_arguments_get_one_line_and_exit_2(capsys, case):
    argv, pattern = BAD_ARGS[case]
    code, out, err = run_cli(capsys, "run", *argv, "--episodes", "5", "--seeds", "2", "--no-progress")
    assert code == 2
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert __import__("re").search(pattern, err), err


@pytest.mark.parametrize("flag, value, pattern", [
    ("--episodes", "0", r"--episodes must be a positive integer, got 0"),
    ("--episodes", "-3", r"--episodes must be a positive integer"),
    ("--seeds", "0", r"--seeds must be a positive integer, got 0"),
    ("--seeds", "many", r"--seeds must be a positive integer, got 'many'"),
])
def test_non_positive_episodes_or_seeds(capsys, flag, value, pattern):
    argv = {"--episodes": "5", "--seeds": "2"}
    argv[flag] = value
    code, _, err = run_cli(capsys, "run", "--instance", "hard", "--planner", "bail",
                           "--episodes", argv["--episodes"], "--seeds", argv["--seeds"])
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert __import__("re").search(pattern, err), err


def _trajectory(tmp_path, episodes):
    path = tmp_path / "tr.json"
    path.write_text(json.dumps({"episodes": episodes}) if not isinstance(episodes, str) else episodes)
    return path


def test_replay_json_has_a_step_per_decision(capsys, hard_file, tmp_path):
    # hard with 2 tasks, H = 3: states home 0, signposts 1, 2; probe is subgoal 2
    episodes = [{"observations": [0, 0, 0, 0], "subgoals": [0, 1, 0]},
                {"observations": [0, 2, 0, 0], "subgoals": [2, 0, 1]}]
    code, out, err = run_cli(capsys, "replay", "--instance-file", str(hard_file),
                             "--trajectory", str(_trajectory(tmp_path, episodes)), "--json")
    assert code == 0, err
    steps = json.loads(out)["steps"]
    assert [(s["episode"], s["step"]) for s in steps] == [(t, h) for t in range(2) for h in range(3)]
    # arms never move the posterior; the probe showed signpost 2 = task 1
    for s in steps[:4]:
        assert s["task_posterior"] == pytest.approx([0.5, 0.5], abs=1e-6)
        assert s["bail"] == pytest.approx([0.5, 0.5, 0.0], abs=1e-6)
    for s in steps[4:]:
        assert s["task_posterior"] == pytest.approx([0.0, 1.0], abs=1e-6)
        assert s["bail"] == pytest.approx([0.0, 1.0, 0.0], abs=1e-6)


def test_replay_misspecified_trajectory_counts_events_without_nan(capsys, hard_file, tmp_path):
    # an arm never leads to a signpost: probability 0 under every task
    episodes = [{"observations": [0, 1, 0, 0], "subgoals": [0, 0, 0]}]
    code, out, err = run_cli(capsys, "replay", "--instance-file", str(hard_file),
                             "--trajectory", str(_trajectory(tmp_path, episodes)), "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["misspecification_events"] == 1
    assert "NaN" not in out
    assert all(s["task_posterior"] == pytest.approx([0.5, 0.5]) for s in result["steps"])


BAD_TRAJECTORIES = {
    "observation_out_of_range": ([{"observations": [0, 0, 9, 0], "subgoals": [0, 0, 0]}],
                                 r"episodes\[0\]\.observations\[2\] = 9 is out of range \[0, 2\]"),
    "subgoal_out_of_range": ([{"observations": [0, 0, 0, 0], "subgoals": [0, 3, 0]}],
                             r"episodes\[0\]\.subgoals\[1\] = 3 is out of range \[0, 2\]"),
    "negative_symbol": ([{"observations": [0, -1, 0, 0], "subgoals": [0, 0, 0]}], r"is out of range"),
    "short_observations": ([{"observations": [0, 0, 0], "subgoals": [0, 0, 0]}],
                           r"episodes\[0\]\.observations has length 3, expected 4"),
    "long_subgoals": ([{"observations": [0, 0, 0, 0], "subgoals": [0, 0, 0, 0]}],
                      r"episodes\[0\]\.subgoals has length 4, expected 3"),
    "missing_subgoals": ([{"observations": [0, 0, 0, 0]}], r"episodes\[0\]\.subgoals is missing"),
    "not_json": ('{"episodes": [', r"--trajectory: invalid JSON"),
    "no_episodes": ('{"steps": []}', r"expected an object with a list 'episodes'"),
}


@pytest.mark.parametrize("case", list(BAD_TRAJECTORIES))
def test_bad_trajectory_gets_one_line_and_exit_2(capsys, hard_file, tmp_path, case):
    episodes, pattern = BAD_TRAJECTORIES[case]
    code, out, err = run_cli(capsys, "replay", "--instance-file", str(hard_file),
                             "--trajectory", str(_trajectory(tmp_path, episodes)), "--json")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert __import__("re").search(pattern, err), err


def test_console_script_prints_no_traceback_on_bad_input(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    proc = subprocess.run([sys.executable, "-m", "jaxbail.cli", "run", "--instance-file", str(bad), "--planner",
                           "bail", "--episodes", "3", "--seeds", "2"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert "invalid JSON" in proc.stderr


# the settings of tests/test_multi_agent.py's and tests/test_instructions.py's runs: in one pytest process the
# CLI runs below reuse their compiled simulations
COORDINATION = ["--instance", "coordination", "--param", "num_actors=2", "--param", "num_tasks=2", "--param",
                "horizon=3", "--param", "prior=0.6,0.4", "--param", "reveal=0.5"]


def test_run_accepts_coordination_by_name_and_as_a_file(capsys, tmp_path):
    from jaxbail.instances import coordination

    code, out, err = run_cli(capsys, "run", *COORDINATION, "--planner", "bail", "--episodes", "1000", "--seeds",
                             "200", "--json", "--no-progress")
    assert code == 0, err
    by_name = json.loads(out)
    assert by_name["instance"] == "coordination" and by_name["theory"]["kind"] == "exact_line"
    assert by_name["theory"]["value"] == pytest.approx(1000 * 3 * (1 - 0.6 ** 2 - 0.4 ** 2), rel=1e-6)
    path = tmp_path / "coord.json"
    path.write_text(json.dumps(instance_to_dict(coordination(2, 2, 3, prior=[0.6, 0.4], reveal=0.5))))
    code, out, err = run_cli(capsys, "run", "--instance-file", str(path), "--planner", "bail", "--episodes", "1000",
                             "--seeds", "200", "--json", "--no-progress")
    assert code == 0, err
    from_file = json.loads(out)
    assert from_file["regret_mean"] == by_name["regret_mean"] and from_file["theory"] == by_name["theory"]


def test_run_accepts_instructions_and_prints_the_bound(capsys):
    code, out, err = run_cli(capsys, "run", "--instance", "hard", "--param", "num_tasks=2", "--param", "horizon=3",
                             "--param", "num_instructions=2", "--param", "instruction_probs=0.4,0.6",
                             "--planner", "eps_bail", "--eps", "anytime:1", "--episodes", "1000", "--seeds", "200",
                             "--seed", "1", "--no-progress")
    assert code == 0, err
    assert "theory (upper bound)" in out and "largest over instructions" in out


@pytest.mark.parametrize("argv, pattern", [
    (["--instance", "coordination", "--param", "num_actors=6", "--planner", "bail"],
     r"num_actors: 6 Actors need joint tables .* the largest N for Z=3, S=4, G=4, H=5 is 5"),
    (["--instance", "coordination", "--param", "reveal=0.5,1,1", "--planner", "bail"], r"reveal: expected one number"),
    (["--instance", "coordination", "--planner", "bail", "--belief", "delusional"],
     r"--belief delusional is not available for several Actors"),
    (["--instance", "hard", "--param", "instruction_probs=0.5,0.6", "--planner", "bail"], r"instruction_probs: "),
])
def test_bad_multi_agent_or_instruction_run_gets_one_line_and_exit_2(capsys, argv, pattern):
    code, out, err = run_cli(capsys, "run", *argv, "--episodes", "5", "--seeds", "2", "--no-progress")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert __import__("re").search(pattern, err), err


def test_replay_of_several_actors_takes_joint_indices(capsys, tmp_path):
    from jaxbail.instances import coordination

    path = tmp_path / "coord.json"
    path.write_text(json.dumps(instance_to_dict(coordination(2, 2, 2))))
    # joint index = 3 * (Actor 0) + (Actor 1); Actor 1 probes (subgoal 2) and lands on task 1's signpost (state 2)
    episodes = [{"observations": [0, 2, 0], "subgoals": [2, 1]}]
    code, out, err = run_cli(capsys, "replay", "--instance-file", str(path),
                             "--trajectory", str(_trajectory(tmp_path, episodes)), "--json")
    assert code == 0, err
    steps = json.loads(out)["steps"]
    assert steps[0]["task_posterior"] == pytest.approx([0.5, 0.5], abs=1e-6)
    assert steps[1]["task_posterior"] == pytest.approx([0.0, 1.0], abs=1e-6)
    bail = np.zeros(9)
    bail[3] = 1.0  # task 1's target: Actor 0 arm 1, Actor 1 arm 0
    assert steps[1]["bail"] == pytest.approx(bail.tolist(), abs=1e-6)


def test_replay_of_an_instance_with_instructions_gets_one_line_and_exit_2(capsys, tmp_path):
    path = tmp_path / "instructed.json"
    path.write_text(json.dumps(instance_to_dict(hard(2, 3, num_instructions=2))))
    episodes = [{"observations": [0, 0, 0, 0], "subgoals": [0, 1, 0]}]
    code, out, err = run_cli(capsys, "replay", "--instance-file", str(path),
                             "--trajectory", str(_trajectory(tmp_path, episodes)), "--json")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "has per-episode instructions" in err


def test_list_names_the_multi_agent_instance_and_the_instruction_parameters(capsys):
    code, out, _ = run_cli(capsys, "list")
    assert code == 0
    assert "coordination" in out and "num_actors" in out and "num_instructions" in out

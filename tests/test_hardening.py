"""Every input surface, generated (hypothesis): bad input gives exit 2, exactly one line on stderr naming the
culprit, no traceback and no file written; good input runs. Plus one test per defect class of issue 13."""

import json
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jaxbail import validate
from jaxbail.cli import main
from jaxbail.instance import instance_to_dict
from jaxbail.instances import hard

PROPERTY = settings(max_examples=12, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
RUN = ["--planner", "bail", "--episodes", "2", "--seeds", "2", "--no-progress"]


def files(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def refuse(capsys, root, argv, pattern=None):
    """``main(argv)`` must exit 2 with one line on stderr (matching ``pattern``), nothing on stdout, no file."""
    before = files(root)
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 2, (argv, out, err)
    assert out == "", out
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("jaxbail: error: "), err
    assert "Traceback" not in err
    if pattern is not None:
        assert re.search(pattern, err), err
    assert files(root) == before, "a refused command wrote a file"
    return lines[0]


def accept(capsys, argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


@pytest.fixture()
def cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


SMALL = instance_to_dict(hard(num_tasks=2, horizon=2))  # Z=2, S=G=O=3, H=2

# ------------------------------------------------------------------------------------ instance and model files

bad_json_value = st.one_of(st.none(), st.booleans(), st.text(max_size=5), st.integers(-5, 5),
                           st.lists(st.text(max_size=2), min_size=1, max_size=3),
                           st.lists(st.floats(-2, -0.01), min_size=1, max_size=4),
                           st.just(float("nan")), st.just([[1e-39, 1.0]]))


@st.composite
def bad_instance_text(draw):
    kind = draw(st.sampled_from(["value", "missing", "unknown", "bytes", "syntax", "tiny"]))
    data = json.loads(json.dumps(SMALL))
    if kind == "value":
        key = draw(st.sampled_from(["prior", "init", "transition", "emission", "reward", "horizon"]))
        data[key] = draw(st.sampled_from([0, -1, "2", 2.5, None, 2**31, [2]]) if key == "horizon" else bad_json_value)
    elif kind == "missing":
        del data[draw(st.sampled_from(["prior", "init", "transition", "emission", "reward", "horizon"]))]
    elif kind == "unknown":
        data[draw(st.sampled_from(["priors", "Horizon", "x"]))] = 1
    elif kind == "tiny":  # positive in float64, zero in float32
        v = draw(st.floats(1e-300, 1e-38))
        data["prior"] = [v, 1.0 - v]
    elif kind == "bytes":
        return draw(st.binary(min_size=1, max_size=40).filter(lambda b: b[:1] in (b"\xff", b"\xfe", b"\x80"))
                    ) + b'{"prior": [1]}'
    elif kind == "syntax":
        return json.dumps(data)[: draw(st.integers(0, 60))].encode()
    return json.dumps(data).encode()


@PROPERTY
@given(text=bad_instance_text(), which=st.sampled_from(["--instance-file", "--model-file"]))
def test_bad_instance_or_model_file_is_refused(capsys, cwd, text, which):
    bad = cwd / "bad.json"
    bad.write_bytes(text)
    good = cwd / "good.json"
    good.write_text(json.dumps(SMALL))
    argv = ["run", "--instance-file", bad, *RUN] if which == "--instance-file" else \
        ["run", "--instance-file", good, "--model-file", bad, *RUN]
    refuse(capsys, cwd, argv)


@st.composite
def good_instance(draw):
    def row(n):
        w = np.asarray(draw(st.lists(st.floats(0.05, 1.0), min_size=n, max_size=n)))
        return (w / w.sum()).tolist()
    z, s, g, o = 2, 2, 2, 2
    return {"prior": row(z), "init": [row(s) for _ in range(z)],
            "transition": [[[row(s) for _ in range(g)] for _ in range(s)] for _ in range(z)],
            "emission": [[row(o) for _ in range(s)] for _ in range(z)],
            "reward": [[draw(st.lists(st.floats(0, 1), min_size=g, max_size=g)) for _ in range(s)] for _ in range(z)],
            "horizon": 2}


@settings(PROPERTY, max_examples=4)
@given(data=good_instance())
def test_generated_good_instance_files_run(capsys, cwd, data):
    path = cwd / "good.json"
    path.write_text(json.dumps(data))
    summary = json.loads(accept(capsys, ["run", "--instance-file", path, "--model-file", path, *RUN, "--json"]))
    assert summary["misspecification_events"] == 0  # its own model: never misspecified


def test_non_utf8_files_get_one_line(capsys, cwd):
    raw = b"\xff\xfe not utf-8"
    (cwd / "x.json").write_bytes(raw)
    (cwd / "x.toml").write_bytes(raw)
    (cwd / "g.json").write_text(json.dumps(SMALL))
    refuse(capsys, cwd, ["run", "--instance-file", "x.json", *RUN], r"not UTF-8")
    refuse(capsys, cwd, ["run", "--instance-file", "g.json", "--model-file", "x.json", *RUN], r"not UTF-8")
    refuse(capsys, cwd, ["replay", "--instance-file", "g.json", "--trajectory", "x.json"],
           r"--trajectory: 'x.json' is not UTF-8 text")
    refuse(capsys, cwd, ["sweep", "x.toml", "--out", "o"], r"x.toml: invalid TOML")
    (cwd / "s.toml").write_text('episodes = 2\nseeds = 2\n[instance]\nfile = "x.json"\n[planner]\nname = "bail"\n')
    refuse(capsys, cwd, ["sweep", "s.toml", "--out", "o"], r"instance\.file: .*not UTF-8")


def test_deeply_nested_json_is_one_line(capsys, cwd):
    (cwd / "deep.json").write_text("[" * 100000 + "]" * 100000)
    refuse(capsys, cwd, ["run", "--instance-file", "deep.json", *RUN], r"nested too deeply")


def test_float32_underflow_is_rejected_at_validation(capsys, cwd):
    data = dict(SMALL, prior=[1e-38, 1 - 1e-38])
    (cwd / "tiny.json").write_text(json.dumps(data))
    refuse(capsys, cwd, ["run", "--instance-file", "tiny.json", *RUN],
           r"prior: probability 1e-38 at index \[0\] is positive but below float32's smallest normal")


def test_smallest_normal_prior_is_a_correct_model(capsys, cwd):
    # the prior at float32's smallest normal number survives: fixed on that task, no misspecification event
    tiny = float(np.finfo(np.float32).tiny)
    data = dict(SMALL, prior=[tiny, 1 - tiny])
    (cwd / "p.json").write_text(json.dumps(data))
    summary = json.loads(accept(capsys, ["run", "--instance-file", "p.json", "--model-file", "p.json",
                                         "--planner", "bail", "--mode", "fixed", "--task", "0", "--episodes", "4",
                                         "--seeds", "8", "--no-progress", "--json"]))
    assert summary["misspecification_events"] == 0


# ------------------------------------------------------------------------------------ trajectories

bad_episode = st.one_of(
    st.none(), st.integers(), st.text(max_size=4),
    st.fixed_dictionaries({"observations": st.lists(st.integers(-3, 5), max_size=5),
                           "subgoals": st.lists(st.integers(-3, 5), max_size=4)}).filter(
        lambda e: not (len(e["observations"]) == 3 and len(e["subgoals"]) == 2
                       and all(0 <= v < 3 for v in e["observations"] + e["subgoals"]))))


@PROPERTY
@given(doc=st.one_of(st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(),
                                                                            max_size=2),
                     st.builds(lambda eps: {"episodes": eps}, st.lists(bad_episode, min_size=1, max_size=3))))
def test_bad_trajectories_are_refused(capsys, cwd, doc):
    (cwd / "i.json").write_text(json.dumps(SMALL))
    (cwd / "t.json").write_text(json.dumps(doc))
    refuse(capsys, cwd, ["replay", "--instance-file", "i.json", "--trajectory", "t.json"], r"--trajectory")


@settings(PROPERTY, max_examples=5)
@given(eps=st.lists(st.tuples(st.lists(st.integers(0, 2), min_size=3, max_size=3),
                              st.lists(st.integers(0, 2), min_size=2, max_size=2)), min_size=1, max_size=3))
def test_good_trajectories_replay(capsys, cwd, eps):
    (cwd / "i.json").write_text(json.dumps(SMALL))
    (cwd / "t.json").write_text(json.dumps({"episodes": [{"observations": o, "subgoals": g} for o, g in eps]}))
    out = json.loads(accept(capsys, ["replay", "--instance-file", "i.json", "--trajectory", "t.json", "--json"]))
    assert len(out["steps"]) == 2 * len(eps)
    json.dumps(out, allow_nan=False)


# ------------------------------------------------------------------------------------ --param

@PROPERTY
@given(item=st.one_of(
    st.builds(lambda t: f"prior={t}", st.text("abcxyz[]{}:\"", min_size=1, max_size=6)),
    st.builds(lambda v: f"num_tasks={v}", st.one_of(st.integers(2**31, 10**40), st.integers(-10**30, 0),
                                                    st.sampled_from(["1.5", "abc", "true", "[2]", "null2"]))),
    st.builds(lambda v: f"reveal={v}", st.sampled_from(["abc", "NaN", "Infinity", "[1]", "true", "2"])),
    st.builds(lambda v: f"horizon={v}", st.sampled_from(["0", "-1", "2147483648", "1e3", "x"]))))
def test_bad_param_values_are_refused(capsys, cwd, item):
    line = refuse(capsys, cwd, ["run", "--instance", "hard", "--param", item, *RUN])
    assert item.split("=")[0] in line  # names the parameter


def test_param_checks_read_the_generators_annotations():
    import typing

    from jaxbail.instances.registry import INSTANCES, _family, param_kind, parameters

    kinds = {(name, key): param_kind(name, key) for name in INSTANCES for key in parameters(name)}
    assert kinds[("hard", "prior")] == kinds[("coordination", "prior")] == "numbers"  # Sequence[float] | None
    assert kinds[("hard", "reveal")] == kinds[("coordination", "reveal")] == "number"  # float (| Sequence[float])
    assert kinds[("random", "reporter")] == "name" and kinds[("random", "seed")] == "seed"
    assert kinds[("hard", "num_instructions")] == kinds[("coordination", "num_actors")] == "int"
    assert param_kind("hard", "nope") is None
    # every parameter of every family has a kind, each the one its annotation names
    names = {"numbers": "Sequence[float]", "number": "float", "name": "str", "int": "int"}
    for (name, key), kind in kinds.items():
        if kind != "seed":
            assert names[kind] in str(typing.get_type_hints(_family(name).generator)[key]), (name, key, kind)
    # a count whose default is None is checked too; a list for a scalar float is refused, a per-Actor one is not
    from jaxbail.instance import InstanceError
    from jaxbail.validate import check_builtin_params

    with pytest.raises(InstanceError, match=r"^num_instructions: must be an integer >= 1, got 'abc'$"):
        check_builtin_params("hard", {"num_instructions": "abc"})
    with pytest.raises(InstanceError, match=r"^reveal: must be a finite number, got \[0.5, 0.5\]$"):
        check_builtin_params("hard", {"reveal": [0.5, 0.5]})
    check_builtin_params("coordination", {"reveal": [0.5, 0.5]})
    check_builtin_params("hard", {"num_instructions": None, "prior": None})


@PROPERTY
@given(seed=st.integers(2**32, 10**40), which=st.sampled_from(["--param", "flag"]))
def test_big_seeds_are_refused(capsys, cwd, seed, which):
    if which == "flag":
        refuse(capsys, cwd, ["run", "--instance", "hard", *RUN, "--seed", seed], r"--seed must be an integer in \[0, ")
    else:
        refuse(capsys, cwd, ["run", "--instance", "random", "--param", f"seed={seed}", *RUN], r"seed: must be an")


@pytest.mark.parametrize("argv, pattern", [
    (["--seed", "-5"], r"argument --seed: --seed must be an integer in \[0, 4294967295\] .*got -5$"),
    (["--seed", "1" * 30], r"--seed .* got a 30-digit number"),
    (["--episodes", "2147483648"], r"--episodes must be a positive integer of at most 2147483647"),
    (["--seeds", "1000000000000"], r"--seeds must be a positive integer of at most 2147483647"),
])
def test_integer_flags_name_the_flag(capsys, cwd, argv, pattern):
    base = {"--episodes": "2", "--seeds": "2"}
    rest = [a for k, v in base.items() if k not in argv for a in (k, v)]
    refuse(capsys, cwd, ["run", "--instance", "hard", "--planner", "bail", "--no-progress", *rest, *argv], pattern)


def test_param_sizes_too_large_for_memory(capsys, cwd):
    refuse(capsys, cwd, ["run", "--instance", "random", "--param", "num_states=100000", *RUN],
           r"num_states: the instance's tables .* need about .* of memory but .* is available")
    refuse(capsys, cwd, ["run", "--instance", "coordination", "--param", "num_actors=2000000000", *RUN],
           r"num_actors: 2000000000 Actors .* the largest N for num_tasks=3, horizon=5 is")


# ------------------------------------------------------------------------------------ memory estimate

def test_run_too_large_is_refused_before_compiling(capsys, cwd, monkeypatch):
    refuse(capsys, cwd, ["run", "--instance", "hard", "--param", "horizon=1000000000", *RUN],
           r"this run needs about .* TiB of memory \(tables .*\) but .* is available \(")
    monkeypatch.setattr(validate, "available_memory", lambda: (1 << 20, "a test"))
    refuse(capsys, cwd, ["run", "--instance", "hard", *RUN],
           r"this run needs about [0-9.]+ MiB of memory .* but 1\.0 MiB is available \(a test\); use fewer --seeds")


def test_pretrain_too_large_is_refused(capsys, cwd):
    refuse(capsys, cwd, ["pretrain", "--instance", "hard", "--out", "m.msgpack", "--width", "1000000"],
           r"pretraining needs about .* TiB of memory \(parameters .*\) but .* is available")


def test_memory_estimate_grows_with_every_part():
    base = dict(num_episodes=100, num_seeds=100, baseline=0)
    small = validate.run_memory({"Z": 2, "S": 3, "G": 3, "O": 3, "H": 2}, **base)
    assert validate.run_memory({"Z": 2, "S": 30, "G": 3, "O": 3, "H": 2}, **base)["tables"] > small["tables"]
    assert validate.run_memory({"Z": 2, "S": 3, "G": 3, "O": 3, "H": 2}, num_episodes=100, num_seeds=1000,
                               baseline=0)["per_seed_carry"] == 10 * small["per_seed_carry"]
    assert small.total == sum(small.values())


def test_available_memory_reads_meminfo():
    avail, source = validate.available_memory()
    assert avail > 0 and source


# ------------------------------------------------------------------------------------ JSON output

def test_eps_zero_writes_null_with_a_note_not_infinity(capsys, cwd):
    out = accept(capsys, ["run", "--instance", "hard", "--planner", "eps_bail", "--eps", "0", "--episodes", "3",
                          "--seeds", "2", "--no-progress", "--json"])
    assert "Infinity" not in out and "NaN" not in out
    summary = json.loads(out)
    assert summary["theory"]["value"] is None
    assert "theory.value is null: the value is +infinity" in summary["null_notes"]


def test_dumps_json_is_standard_json_and_unchanged_when_finite():
    obj = {"a": [1.0, float("inf"), float("nan")], "b": {"c": -float("inf")}, "d": 0.1}
    text = validate.dumps_json(obj)
    back = json.loads(text)
    assert back["a"] == [1.0, None, None] and back["b"]["c"] is None
    assert back["null_notes"] == ["a[1] is null: the value is +infinity", "a[2] is null: the value is NaN",
                                  "b.c is null: the value is -infinity"]
    finite = {"x": [0.1, 2, None], "y": "s"}
    assert validate.dumps_json(finite) == json.dumps(finite)


# ------------------------------------------------------------------------------------ TOML sweeps

TOML = """name = "t"
seed = {seed}
episodes = {episodes}
seeds = 2
mode = "{mode}"
{task}
[instance]
name = "hard"
params = {{ num_tasks = 2, horizon = 2 }}

[planner]
name = {names}
eps = {eps}
"""


def toml(**kw):
    base = dict(seed=0, episodes=3, mode="bayes", task="", names='["bail"]', eps='"0.5"')
    base.update(kw)
    return TOML.format(**base)


bad_toml = st.one_of(
    st.builds(lambda s: toml(seed=s), st.one_of(st.integers(-10**30, -1), st.integers(2**32, 10**30))),
    st.builds(lambda e: toml(episodes=e), st.one_of(st.integers(2**31, 10**30), st.integers(-5, 0))),
    st.builds(lambda t: toml(mode="fixed", task=f"task = {t}"), st.integers(2, 10**6)),
    st.builds(lambda n: toml(names=f'["{n}", "{n}"]'), st.sampled_from(["bail", "eps_bail", "greedy"])),
    st.builds(lambda e: toml(names='["eps_bail"]', eps=f'["{e}", "{e}"]'), st.sampled_from(["0.1", "auto"])),
    st.builds(lambda e: toml(names='["eps_bail"]', eps=e), st.sampled_from(['"x"', '"2"', '"-1"', '"anytime:0"'])),
    st.builds(lambda n: toml(names=n), st.sampled_from(["[[1]]", "{a = 1}", "3", "[]"])),
)


@PROPERTY
@given(text=bad_toml)
def test_bad_sweep_configs_write_nothing(capsys, cwd, text):
    (cwd / "s.toml").write_text(text)
    refuse(capsys, cwd, ["sweep", "s.toml", "--out", "out"], r"s\.toml: ")


def test_sweep_messages_name_the_culprit(capsys, cwd):
    cases = [(toml(seed=10**29), r"seed: must be an integer in \[0, 4294967295\] .*got a 30-digit number"),
             (toml(seed=-5), r"seed: must be an integer in \[0, 4294967295\]"),
             (toml(episodes=2**31), r"episodes: must be a positive integer of at most 2147483647"),
             (toml(mode="fixed", task="task = 2"), r"task: 2 is past the last task 1 of instance"),
             (toml(names='["bail", "bail"]'), r"planner\.name: the value 'bail' appears twice"),
             (toml(names='"eps_bail"', eps='"auto"').replace("num_tasks = 2, horizon = 2",
                                                             'num_states = 3, reporter = "noisy"').replace(
                 'name = "hard"', 'name = "random"'), r"planner\.eps: eps auto needs .* injective Reporter")]
    for text, pattern in cases:
        (cwd / "s.toml").write_text(text)
        refuse(capsys, cwd, ["sweep", "s.toml", "--out", "out"], pattern)


def test_huge_grid_needs_confirmation(capsys, cwd):
    text = toml(episodes=list(range(1, 102))).replace("horizon = 2", f"horizon = {list(range(1, 101))}")
    (cwd / "s.toml").write_text(text)
    refuse(capsys, cwd, ["sweep", "s.toml", "--out", "out"],
           r"the grid has 10,100 cells \(more than 10,000\); .* --allow-large-grid")
    from jaxbail.sweep import expand_cells, load_sweep

    config = load_sweep(cwd / "s.toml")
    config["_allow_large"] = True
    assert len(expand_cells(config)) == 10100


def test_sweep_out_is_a_file_or_cannot_be_created(capsys, cwd):
    (cwd / "s.toml").write_text(toml())
    (cwd / "afile").write_text("x")
    refuse(capsys, cwd, ["sweep", "s.toml", "--out", "afile"], r"--out: 'afile' is a file, not a directory$")
    refuse(capsys, cwd, ["sweep", "s.toml", "--out", "afile/sub"], r"--out: cannot create 'afile/sub'")
    refuse(capsys, cwd, ["sweep", "s.toml", "--out", "afile", "--status"], r"--out: 'afile' is a file")


def test_sweep_refuses_another_sweeps_out_unless_forced(capsys, cwd):
    import hashlib

    (cwd / "a.toml").write_text(toml())
    (cwd / "b.toml").write_text(toml(seed=1))
    accept(capsys, ["sweep", "a.toml", "--out", "out", "--no-progress"])
    table = (cwd / "out" / "results.csv").read_text()
    other = hashlib.sha256((cwd / "a.toml").read_bytes()).hexdigest()[:16]
    refuse(capsys, cwd, ["sweep", "b.toml", "--out", "out"],
           rf"--out: 'out' holds the results of another sweep \(config sha256 {other}, .*--force")
    accept(capsys, ["sweep", "b.toml", "--out", "out", "--status"])  # status: reports, replaces nothing
    assert (cwd / "out" / "results.csv").read_text() == table
    accept(capsys, ["sweep", "b.toml", "--out", "out", "--no-progress", "--force"])
    assert (cwd / "out" / "results.csv").read_text() != table
    assert json.loads((cwd / "out" / "metadata.json").read_text())["config_sha256"] == hashlib.sha256(
        (cwd / "b.toml").read_bytes()).hexdigest()


def test_sweep_with_eps_zero_writes_standard_json_cells(capsys, cwd):
    (cwd / "s.toml").write_text(toml(names='"eps_bail"', eps='"0"'))
    accept(capsys, ["sweep", "s.toml", "--out", "out", "--no-progress"])
    for path in (cwd / "out").rglob("*.json"):
        text = path.read_text()
        assert "Infinity" not in text and "NaN" not in text
        json.loads(text)
    cell = json.loads(next((cwd / "out" / "cells").glob("*.json")).read_text())
    assert cell["theory"]["value"] is None and any("theory.value" in n for n in cell["null_notes"])


def test_sweep_memory_refusal_writes_nothing(capsys, cwd, monkeypatch):
    (cwd / "s.toml").write_text(toml())
    monkeypatch.setattr(validate, "available_memory", lambda: (1 << 20, "a test"))
    refuse(capsys, cwd, ["sweep", "s.toml", "--out", "out"], r"a batch of 1 cells .* needs about .* available")


# ------------------------------------------------------------------------------------ checkpoints

@PROPERTY
@given(weights=st.binary(max_size=64), side=st.one_of(
    st.binary(max_size=30).map(lambda b: b"\xff" + b),
    st.text(max_size=30).map(str.encode),
    st.sampled_from([b"{}", b"[]", b'{"format": "jaxbail-llm-checkpoint"}',
                     b'{"format": "jaxbail-llm-checkpoint", "model_config": {}, "instance": {}}'])))
def test_bad_checkpoints_are_refused(capsys, cwd, weights, side):
    (cwd / "m.msgpack").write_bytes(weights)
    (cwd / "m.json").write_bytes(side)
    refuse(capsys, cwd, ["run", "--instance", "hard", "--planner", "llm", "--checkpoint", "m.msgpack",
                         "--episodes", "2", "--seeds", "2", "--no-progress"], r"checkpoint")


def test_checkpoint_with_other_weights_is_refused(capsys, cwd):
    from jaxbail.llm.checkpoint import CHECKPOINT_DIR, SHIPPED, load_checkpoint, save_checkpoint

    config, params, inst, record = load_checkpoint(CHECKPOINT_DIR / SHIPPED["hard"])
    save_checkpoint(cwd / "m.msgpack", config, params, inst, record)
    side = json.loads((cwd / "m.json").read_text())
    assert len(side["weights_sha256"]) == 64
    again = load_checkpoint(cwd / "m.msgpack")  # a good checkpoint round-trips
    assert all(np.array_equal(a, b) for a, b in zip(__import__("jax").tree.leaves(params),
                                                     __import__("jax").tree.leaves(again[1])))
    raw = bytearray((cwd / "m.msgpack").read_bytes())
    raw[-1] ^= 1  # one flipped bit in the last weight
    (cwd / "m.msgpack").write_bytes(bytes(raw))
    refuse(capsys, cwd, ["run", "--instance", "hard", "--planner", "llm", "--checkpoint", "m.msgpack",
                         "--episodes", "2", "--seeds", "2", "--no-progress"],
           r"weights 'm\.msgpack' are not the ones its side file records")


def test_pretrain_out_unwritable_fails_before_training(capsys, cwd):
    refuse(capsys, cwd, ["pretrain", "--instance", "hard", "--out", "/proc/x.msgpack", "--quick"],
           r"--out: cannot write in '/proc'")
    (cwd / "d").mkdir()
    refuse(capsys, cwd, ["pretrain", "--instance", "hard", "--out", "d"], r"--out: 'd' is a directory")
    (cwd / "f").write_text("x")
    refuse(capsys, cwd, ["pretrain", "--instance", "hard", "--out", "f/m.msgpack"], r"--out: 'f' is not a directory")


# ------------------------------------------------------------------------------------ plot input

HEADER = ",".join(__import__("jaxbail.sweep", fromlist=["TABLE_COLUMNS"]).TABLE_COLUMNS)


@PROPERTY
@given(content=st.one_of(
    st.just(b""), st.just(HEADER.encode() + b"\n"), st.binary(max_size=60).map(lambda b: b"\xff" + b),
    st.text(max_size=80).map(str.encode),
    st.lists(st.text("abc,1.;\n", max_size=30), min_size=1, max_size=3).map(
        lambda rows: (HEADER + "\n" + "\n".join(rows) + "\nx,y").encode())))
def test_bad_results_tables_are_refused(capsys, cwd, content):
    (cwd / "r").mkdir(exist_ok=True)
    (cwd / "r" / "results.csv").write_bytes(content)
    refuse(capsys, cwd, ["plot", "r"], r"results\.csv")


def test_plot_messages(capsys, cwd):
    (cwd / "r").mkdir()
    table = cwd / "r" / "results.csv"
    table.write_text("")
    refuse(capsys, cwd, ["plot", "r"], r"is empty; expected a jaxbail results\.csv")
    table.write_text(HEADER + "\n")
    refuse(capsys, cwd, ["plot", "r"], r"has a header but no rows")
    table.write_text("a,b\n1,2\n")
    refuse(capsys, cwd, ["plot", "r"], r"is not a jaxbail results table: no column 'cell_id'")
    table.write_text(HEADER + "\n" + ",".join(["x"] * len(HEADER.split(","))) + "\n")
    refuse(capsys, cwd, ["plot", "r"], r"line 2: not a valid results row")
    refuse(capsys, cwd, ["plot", "nothere"], r"no results table at")


def test_good_results_table_plots(capsys, cwd):
    (cwd / "s.toml").write_text(toml(names='["bail", "eps_bail"]', eps='["0.1", "0.5"]'))
    accept(capsys, ["sweep", "s.toml", "--out", "out", "--no-progress"])
    out = accept(capsys, ["plot", "out", "--out", "figs"])
    written = out.split()
    assert written and all((cwd / p).stat().st_size > 0 for p in written)
    assert not [p for p in (cwd / "figs").iterdir() if p.name.startswith(".")]  # no temporary files left

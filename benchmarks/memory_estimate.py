"""Accuracy of the memory estimate (jaxbail.validate.run_memory) against measured peak RSS.

    PYTHONPATH=$PWD python benchmarks/memory_estimate.py

Each run is a fresh process that loads its instance from a JSON file (as ``jaxbail run --instance-file``
does, so no generator's transient memory is in the baseline), takes the estimate where the CLI takes
it (before compiling), runs, and reports its peak RSS (``ru_maxrss``). "added" is what the run adds to
the process's RSS at the check: estimated (tables, per-seed carry, outputs, logged arrays, compile
headroom) against measured (peak RSS minus RSS at the check).
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

RUNS = [
    ("hard Z=3 H=5, T=1000, N=1000, bail", "hard", {}, "bail", 1000, 1000),
    ("hard Z=3 H=5, T=200, N=100000, bail", "hard", {}, "bail", 200, 100000),
    ("hard Z=3 H=200, T=100, N=2000, eps_bail", "hard", {"horizon": 200}, "eps_bail", 100, 2000),
    ("hard Z=3 H=5, T=20000, N=256, bail", "hard", {}, "bail", 20000, 256),
    ("random Z=4 S=60 G=10 (noisy), T=100, N=2000, bail", "random",
     {"num_states": 60, "num_subgoals": 10, "reporter": "noisy"}, "bail", 100, 2000),
    ("random Z=8 S=120 G=20 (noisy), T=20, N=500, bail", "random",
     {"num_tasks": 8, "num_states": 120, "num_subgoals": 20, "reporter": "noisy"}, "bail", 20, 500),
]

CHILD = """
import json, resource, sys
from jaxbail.experiment import run_and_summarize, parse_eps
from jaxbail.instance import load_instance
from jaxbail.validate import run_memory, _rss
path, planner, T, N = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
inst = load_instance(path)
est = run_memory(inst.sizes, num_episodes=T, num_seeds=N)
run_and_summarize(inst, planner, num_episodes=T, num_seeds=N, progress=False,
                  eps=parse_eps("0.1") if planner.startswith("eps_") else None)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"estimate": est.total, "peak": peak, "process": est["process"]}))
"""


def main() -> None:
    from jaxbail.instance import save_instance
    from jaxbail.instances import instance_by_name

    mib = 2**20
    print("| run | RSS at the check | added: estimated | added: measured | total: estimated | peak RSS | "
          "estimate / peak |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for label, name, params, planner, episodes, seeds in RUNS:
            path = Path(tmp) / "instance.json"
            save_instance(instance_by_name(name, **params), path)
            proc = subprocess.run([sys.executable, "-c", CHILD, str(path), planner, str(episodes), str(seeds)],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                print(label, "failed:", proc.stderr.strip().splitlines()[-1])
                continue
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            print(f"| {label} | {r['process'] / mib:.0f} MiB | {(r['estimate'] - r['process']) / mib:.0f} MiB | "
                  f"{(r['peak'] - r['process']) / mib:.0f} MiB | {r['estimate'] / mib:.0f} MiB | "
                  f"{r['peak'] / mib:.0f} MiB | {r['estimate'] / r['peak']:.2f} |", flush=True)


if __name__ == "__main__":
    main()

"""Peak memory of long runs: host-side chunking keeps it flat as the number of episodes grows.

Each size runs in a fresh subprocess (ru_maxrss is process-wide and only grows).
Usage: python benchmarks/memory.py [--seeds 256] [--episodes 1000 10000 100000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def child(episodes: int, seeds: int) -> None:
    import jax

    from jaxbail.instances import hard
    from jaxbail.planners import make_planner
    from jaxbail.runner import simulate

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.time()
    result = simulate(jax.random.PRNGKey(0), hard(), make_planner("eps_bail", eps_scale=1.0, eps_power=0.5),
                      num_episodes=episodes, num_seeds=seeds, progress=False)
    print(json.dumps({"episodes": episodes, "seeds": seeds, "seconds": time.time() - start,
                      "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "rss_after_import_mib": before / 1024, "logged_points": int(len(result.episodes)),
                      "regret_mean": float(result.gap_regret[:, -1].mean())}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=256)
    parser.add_argument("--episodes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.episodes[0], args.seeds)
        return
    print(f"{'episodes':>9} {'seeds':>6} {'seconds':>8} {'peak RSS MiB':>13} {'logged points':>14}")
    for episodes in args.episodes:
        out = subprocess.run([sys.executable, __file__, "--child", "--seeds", str(args.seeds), "--episodes",
                              str(episodes)], capture_output=True, text=True, check=True).stdout
        row = json.loads(out.strip().splitlines()[-1])
        print(f"{row['episodes']:>9} {row['seeds']:>6} {row['seconds']:>8.1f} {row['peak_rss_mib']:>13.0f} "
              f"{row['logged_points']:>14}")


if __name__ == "__main__":
    main()

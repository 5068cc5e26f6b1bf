"""Wall time of the whole ``keybridge demo`` process (goal: under 2 s), with the interpreter's
own start (``python -c pass``) measured in the same run as the baseline.

    python bench/demo_time.py [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

KEYBRIDGE = str(Path(sys.executable).with_name("keybridge"))
GOAL_S = 2.0


def wall(args: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(args, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"{' '.join(args)} failed ({done.returncode}):\n{done.stdout.decode()[-2000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    baseline = statistics.median(wall([sys.executable, "-c", "pass"]) for _ in range(runs))
    demo = [wall([KEYBRIDGE, "demo"]) for _ in range(runs)]
    median = statistics.median(demo)
    print(f"python -c pass : median {baseline * 1e3:7.1f} ms")
    print(
        f"keybridge demo : median {median * 1e3:7.1f} ms, max {max(demo) * 1e3:7.1f} ms "
        f"({median / baseline:.1f}x the interpreter's start; goal < {GOAL_S:.0f} s: "
        f"{'met' if max(demo) < GOAL_S else 'MISSED'})"
    )
    return 0 if max(demo) < GOAL_S else 1


if __name__ == "__main__":
    sys.exit(main())

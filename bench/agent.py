"""``keybridge otp code`` through a running agent, against ``ykman --help`` and against a direct
command, same run.

Measured (whole-process wall time, median of N runs each, interleaved so load on the machine
hits all alike):

- ``ykman --help`` (installed into a private virtualenv as ``bench/cli_startup.py`` does): the
  baseline of the first ratio;
- ``keybridge otp code NAME`` directly on a pty simulator (no agent): the baseline of the
  second ratio;
- ``keybridge otp code NAME`` through an agent serving a pty simulator (goal: <= 0.15x
  ``ykman --help``);
- ``keybridge otp code NAME`` through an agent serving a simulator on the BLE virtual radio
  (goal: <= 1.5x the direct pty command);
- for reference, the full command (click, asyncio: ``keybridge.cli.main``) through the pty
  agent, i.e. what a command outside the console script's fast path costs.

The editable ``keybridge`` next to this Python and, when ykman could be installed, a regular
install of this tree in ykman's virtualenv (as users get it) are both measured.

    python bench/agent.py [--runs 15] [--bench-venv DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from cli_startup import install_keybridge, install_ykman, summary, wall

from firmware_sim.simulator import Simulator
from firmware_sim.testing.paired import pair_state_file
from keybridge.hostconfig import HostConfig

YKMAN_GOAL = 0.15
BLE_GOAL = 1.5
NAME = "HES.Web:admin@example.com"
SECRET = "gezd gnbv gy3t qojq gezd gnbv gy3t qojq"


@contextlib.contextmanager
def agent(keybridge: str, url: str, socket: Path, env: dict[str, str]) -> Iterator[None]:
    """``keybridge agent`` for ``url`` on ``socket``, until the block ends."""
    process = subprocess.Popen(
        [keybridge, "--device", url, "agent"],
        env={**env, "KEYBRIDGE_AGENT_SOCKET": str(socket)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line.startswith("READY agent "):
        process.kill()
        raise SystemExit(f"the agent for {url} did not start: {line!r}")
    try:
        yield
    finally:
        process.terminate()
        process.wait(10)
        process.stdout.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--bench-venv", type=Path, help="keep (and reuse) the ykman venv here")
    options = parser.parse_args()
    keybridge = str(Path(sys.executable).with_name("keybridge"))

    with tempfile.TemporaryDirectory(prefix="kb-agent-bench-", dir="/tmp") as scratch_name:
        scratch = Path(scratch_name)
        venv = options.bench_venv or scratch / "ykman-venv"
        ykman, how = install_ykman(venv)
        print(f"ykman: {how}" if ykman else f"ykman unavailable: {how}")
        installed = install_keybridge(venv) if ykman else None

        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env |= {
            "PYTHONPYCACHEPREFIX": str(scratch / "pycache"),
            "KEYBRIDGE_CONFIG_DIR": str(scratch / "host-config"),
            "KEYBRIDGE_RUNTIME_DIR": str(scratch / "runtime"),
            "KEYBRIDGE_AGENT_SOCKET": "off",
        }
        os.environ["KEYBRIDGE_CONFIG_DIR"] = env["KEYBRIDGE_CONFIG_DIR"]
        config = HostConfig.load()
        states = {name: scratch / f"{name}.state" for name in ("direct", "pty", "ble")}
        for state in states.values():
            pair_state_file(state, config)
        pty_socket, ble_socket = scratch / "pty.sock", scratch / "ble.sock"

        with contextlib.ExitStack() as stack:
            direct = stack.enter_context(Simulator(state=states["direct"], env=env))
            pty = stack.enter_context(Simulator(state=states["pty"], env=env))
            ble = stack.enter_context(Simulator(state=states["ble"], env=env, link="ble-virtual"))
            for simulator in (direct, pty, ble):
                wall(
                    [keybridge, "--device", simulator.url, "otp", "add", NAME, "--secret", SECRET],
                    env,
                )
            stack.enter_context(agent(keybridge, pty.url, pty_socket, env))
            stack.enter_context(agent(keybridge, ble.url, ble_socket, env))

            def code(
                script: str, simulator: Simulator, socket: Path | None
            ) -> tuple[list[str], dict[str, str]]:
                where = {"KEYBRIDGE_AGENT_SOCKET": str(socket) if socket else "off"}
                return [script, "--device", simulator.url, "otp", "code", NAME], {**env, **where}

            commands: dict[str, tuple[list[str], dict[str, str]]] = {
                "otp code, direct (pty)": code(keybridge, direct, None),
                "otp code, agent (pty)": code(keybridge, pty, pty_socket),
                "otp code, agent (BLE)": code(keybridge, ble, ble_socket),
            }
            # The same through the full command (click, asyncio), without the fast path.
            full, full_env = code(keybridge, pty, pty_socket)
            full[:1] = [sys.executable, "-c", "from keybridge.cli.main import main; main()"]
            commands["full command, agent (pty)"] = (full, full_env)
            if ykman is not None:
                commands["ykman --help"] = ([str(ykman), "--help"], env)
            if installed is not None:
                commands["installed: direct (pty)"] = code(str(installed), direct, None)
                commands["installed: agent (pty)"] = code(str(installed), pty, pty_socket)
                commands["installed: agent (BLE)"] = code(str(installed), ble, ble_socket)
            for args, run_env in commands.values():  # fill the bytecode cache, connect
                wall(args, run_env)
                wall(args, run_env)
            samples: dict[str, list[float]] = {label: [] for label in commands}
            for _ in range(options.runs):
                for label, (args, run_env) in commands.items():
                    samples[label].append(wall(args, run_env))

    print(f"whole-process wall time, {options.runs} runs each ({os.cpu_count()} CPUs)")
    for label, values in samples.items():
        print(f"  {label:<28} {summary(values)}")
    median = {label: statistics.median(values) for label, values in samples.items()}
    ratios: list[tuple[str, str, float]] = []
    for prefix in ("otp code, ", "installed: "):
        if "ykman --help" in median and f"{prefix}agent (pty)" in median:
            ratios.append((f"{prefix}agent (pty)", "ykman --help", YKMAN_GOAL))
        if f"{prefix}agent (BLE)" in median:
            ratios.append((f"{prefix}agent (BLE)", f"{prefix}direct (pty)", BLE_GOAL))
    for label, base, goal in ratios:
        ratio = median[label] / median[base]
        verdict = "met" if ratio <= goal else "MISSED"
        print(f"  {label} / {base}: {ratio:.2f}x (goal <= {goal}x: {verdict})")
    if "ykman --help" not in median:
        print("no ykman ratio: ykman is not available")


if __name__ == "__main__":
    main()

"""Whole-process wall time of the ``keybridge`` command against ``ykman --help``, same run.

Measured (median of N runs each, interleaved so load on the machine hits all alike):

- ``ykman --help`` (yubikey-manager, installed by this script into its own virtualenv in a
  scratch directory): the baseline;
- ``keybridge --help`` (goal: <= 0.5x the baseline);
- ``keybridge otp code NAME`` against a simulator on a pty that this script starts, with the
  host paired and a credential stored (goal: <= 0.6x): connection, encrypted session, clock
  set and the calculation included.

Two ``keybridge`` builds are measured: the console script next to this Python (a development
checkout is usually an editable install, whose import hook costs every start some 20-30 ms), and
a regular install of this source tree into the ykman virtualenv, as ``pip install`` gives users,
run by the same interpreter as ykman. Every process runs with a warm bytecode cache kept in a
scratch directory (``PYTHONPYCACHEPREFIX``), so no side compiles its sources. ``python -c pass``
of both interpreters is printed for reference.

yubikey-manager needs pyscard, which is built from source where no wheel exists and then needs
the PC/SC headers; without them the script fetches Debian's ``libpcsclite-dev`` into the scratch
directory (``apt-get download``, nothing installed on the system). If ykman still cannot be
installed, the absolute figures are printed without ratios.

    python bench/cli_startup.py [--runs 15] [--bench-venv DIR] [--profile]

``--bench-venv DIR`` keeps the ykman virtualenv in DIR and reuses it in later runs;
``--profile`` adds the slowest imports of ``keybridge otp code`` (``python -X importtime``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from firmware_sim.simulator import Simulator
from firmware_sim.testing.paired import pair_state_file
from keybridge.hostconfig import HostConfig

HELP_GOAL = 0.5
CODE_GOAL = 0.6
NAME = "HES.Web:admin@example.com"
SECRET = "gezd gnbv gy3t qojq gezd gnbv gy3t qojq"


def _bin(venv: Path, name: str) -> Path:
    return venv / ("Scripts" if os.name == "nt" else "bin") / name


def _pip(
    venv: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    command = [str(_bin(venv, "python")), "-m", "pip", "install", "-q", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env)


def _pcsc_headers(scratch: Path) -> dict[str, str] | None:
    """Build flags for pyscard from Debian's libpcsclite-dev, unpacked into ``scratch``."""
    if not (shutil.which("apt-get") and shutil.which("dpkg")):
        return None
    scratch.mkdir(parents=True, exist_ok=True)
    fetched = subprocess.run(
        ["apt-get", "download", "libpcsclite-dev"], cwd=scratch, capture_output=True, text=True
    )
    debs = sorted(scratch.glob("libpcsclite-dev_*.deb"))
    if fetched.returncode != 0 or not debs:
        return None
    root = scratch / "root"
    subprocess.run(["dpkg", "-x", str(debs[-1]), str(root)], check=True)
    include = next(root.rglob("winscard.h"), None)
    pc_file = next(root.rglob("libpcsclite.pc"), None)
    if include is None or pc_file is None:
        return None
    pc_dir = scratch / "pkgconfig"
    pc_dir.mkdir(exist_ok=True)
    text = pc_file.read_text().replace("prefix=/usr", f"prefix={root / 'usr'}", 1)
    (pc_dir / "libpcsclite.pc").write_text(text)
    return {
        "PKG_CONFIG_PATH": str(pc_dir),
        "CFLAGS": f"-I{include.parent} {os.environ.get('CFLAGS', '')}".strip(),
    }


def install_ykman(venv: Path) -> tuple[Path | None, str]:
    """``ykman`` in ``venv`` (made if missing), or None and the reason it is unavailable."""
    ykman = _bin(venv, "ykman")
    if ykman.exists():
        return ykman, "reused"
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    first = _pip(venv, "yubikey-manager")
    if first.returncode == 0 and ykman.exists():
        return ykman, "installed"
    # pyscard without a wheel for this platform: build it against the PC/SC headers.
    flags = _pcsc_headers(venv / "pcsc-headers")
    if flags is not None:
        second = _pip(venv, "yubikey-manager", env={**os.environ, **flags})
        if second.returncode == 0 and ykman.exists():
            return ykman, "installed (pyscard built against libpcsclite-dev headers)"
    tail = (first.stderr.strip().splitlines() or ["no output"])[-1]
    return None, f"pip install yubikey-manager failed: {tail}"


def install_keybridge(venv: Path) -> Path | None:
    """A regular (not editable) install of this source tree into ``venv``; None if it fails."""
    source = Path(__file__).resolve().parents[1]
    deps = _pip(venv, "pyserial", "pyotp", "click", "cryptography", "platformdirs")
    done = _pip(venv, "--force-reinstall", "--no-deps", str(source))
    script = _bin(venv, "keybridge")
    if deps.returncode != 0 or done.returncode != 0 or not script.exists():
        print(f"no regular keybridge install: {(deps.stderr + done.stderr).strip()[-300:]}")
        return None
    return script


def wall(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed: {done.stderr.decode().strip()}")
    return elapsed


def summary(samples: list[float]) -> str:
    return (
        f"median {statistics.median(samples) * 1000:6.1f} ms   "
        f"min {min(samples) * 1000:6.1f} ms   max {max(samples) * 1000:6.1f} ms"
    )


def slowest_imports(args: list[str], env: dict[str, str], count: int = 15) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *args], env=env, capture_output=True, text=True
    )
    rows = []
    for line in done.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            rows.append((int(parts[1]), parts[2].rstrip()))
    rows.sort(reverse=True)
    return [f"  {cumulative / 1000:6.1f} ms  {name}" for cumulative, name in rows[:count]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--bench-venv", type=Path, help="keep (and reuse) the ykman venv here")
    parser.add_argument("--profile", action="store_true", help="show the slowest imports")
    options = parser.parse_args()
    keybridge = Path(sys.executable).with_name("keybridge")
    if not keybridge.exists():
        raise SystemExit(f"no keybridge console script next to {sys.executable}: pip install .")

    with tempfile.TemporaryDirectory(prefix="keybridge-cli-bench-") as scratch_name:
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
        }
        os.environ["KEYBRIDGE_CONFIG_DIR"] = env["KEYBRIDGE_CONFIG_DIR"]
        state = scratch / "key.state"
        pair_state_file(state, HostConfig.load())
        with Simulator(state=state, env=env) as simulator:
            env["KEYBRIDGE_DEVICE"] = simulator.url
            commands = {
                "python -c pass": [sys.executable, "-c", "pass"],
                "keybridge --help": [str(keybridge), "--help"],
                "keybridge otp code NAME": [str(keybridge), "otp", "code", NAME],
            }
            if ykman is not None:
                commands["ykman's python -c pass"] = [str(_bin(venv, "python")), "-c", "pass"]
                commands["ykman --help"] = [str(ykman), "--help"]
            if installed is not None:
                commands["installed keybridge --help"] = [str(installed), "--help"]
                commands["installed keybridge otp code"] = [str(installed), "otp", "code", NAME]
            wall([str(keybridge), "otp", "add", NAME, "--secret", SECRET], env)
            for args in commands.values():  # fill the bytecode cache
                wall(args, env)
                wall(args, env)
            samples: dict[str, list[float]] = {label: [] for label in commands}
            for _ in range(options.runs):
                for label, args in commands.items():
                    samples[label].append(wall(args, env))
            profile = slowest_imports(["-m", "keybridge", "otp", "code", NAME], env)

    print(f"whole-process wall time, {options.runs} runs each ({os.cpu_count()} CPUs)")
    for label, values in samples.items():
        print(f"  {label:<29} {summary(values)}")
    if ykman is None:
        print("no ratios: ykman is not available")
    else:
        base = statistics.median(samples["ykman --help"])
        goals = {
            "keybridge --help": HELP_GOAL,
            "keybridge otp code NAME": CODE_GOAL,
            "installed keybridge --help": HELP_GOAL,
            "installed keybridge otp code": CODE_GOAL,
        }
        for label, goal in goals.items():
            if label in samples:
                ratio = statistics.median(samples[label]) / base
                verdict = "met" if ratio <= goal else "MISSED"
                print(f"  {label:<29} / ykman --help: {ratio:.2f}x (goal <= {goal}x: {verdict})")
    if options.profile:
        print("slowest imports of keybridge otp code (cumulative, -X importtime)")
        print("\n".join(profile))


if __name__ == "__main__":
    main()

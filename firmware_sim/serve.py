"""``python -m firmware_sim serve``: run simulated keys on ptys or TCP ports.

For each key the process prints one line ``READY <device URL>`` on stdout (flushed) once the key
accepts connections: the pty's device path (``/dev/pts/N``) or ``socket://HOST:PORT``. Logs go
to stderr. SIGINT and SIGTERM stop it cleanly (exit 0; every acknowledged write is already in
the state file; ptys and sockets are closed; a temporary state directory is removed). SIGUSR1
presses the button of every key that waits for it, SIGUSR2 declines (``--button manual``).

``--keys N`` serves N independent keys: N ptys, or N TCP ports (``PORT``, ``PORT+1``, ...; port
0 picks a free port for each). With ``--state FILE`` key 1 keeps its state in ``FILE``, key 2 in
``FILE.2``, ... key N in ``FILE.N`` (each with its device key beside it, ``FILE.N.devkey``);
without it the state lives in a temporary directory that is removed at exit.

This module is the library side of the command; a host CLI may call :func:`main` or build a
:class:`KeyServer` itself.
"""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TextIO

from firmware_sim.links.device import Device, Port
from firmware_sim.links.framed_port import FramedPort
from firmware_sim.links.reactor import Reactor
from firmware_sim.state_files import make_private_dir, state_paths
from keybridge.errors import InvalidInputError, KeybridgeError
from keybridge.protocol.record import Record

if TYPE_CHECKING:
    # Each link module loads when a key is served on it (socket for TCP, tty for a pty).
    from firmware_sim.links.pty import PtyLink
    from firmware_sim.links.tcp import TcpLink

__all__ = ["KeyServer", "ServeOptions", "main", "parse_args"]

log = logging.getLogger("firmware_sim")

MAX_KEYS = 1000


class ServeOptions(Record):
    """What ``serve`` runs; :func:`parse_args` builds it from the command line."""

    link: str = "pty"
    """``pty``, ``tcp``, ``ble-virtual`` or ``ble:TRANSPORT`` (see ``links.ble_keys``)."""
    host: str = "127.0.0.1"
    port: int = 0
    state: Path | None = None
    clock: str = "real"
    button: str = "auto"
    keys: int = 1
    verbosity: int = 0
    """-1 quiet (warnings), 0 info, 1 debug with hex dumps of every frame."""
    announce: bool = True
    """Announce the keys for device discovery (``keybridge devices``) while serving."""
    faults: str = ""
    """A ``--faults`` SPEC (see ``links.fault_spec``); empty: a faultless key."""
    keyboard: str = ""
    """BLE only: ``passkey`` or ``just-works`` makes the key a Bluetooth keyboard too (HID over
    GATT, bonding that way); empty: no keyboard."""
    gesture: str = ""
    """BLE only: ``KIND:NAME`` (``firmware_sim.firmware.keyboard_out.Gesture``): SIGURG makes
    that gesture, which types NAME's code and Enter on the key's keyboard."""


def parse_link(spec: str) -> tuple[str, str, int]:
    """``pty`` or ``tcp:HOST:PORT`` (``tcp:PORT`` and ``tcp`` use 127.0.0.1, port 0 = free)."""
    kind, _, rest = spec.partition(":")
    if kind == "pty" and not rest:
        return "pty", "", 0
    if kind in ("ble", "ble-virtual"):
        from firmware_sim.links.ble_keys import parse_ble_link

        return parse_ble_link(spec), "", 0
    if kind != "tcp":
        raise InvalidInputError(
            f"unknown link {spec!r}: use pty, tcp:HOST:PORT, ble-virtual or ble:TRANSPORT"
        )
    host, sep, port_text = rest.rpartition(":")
    if not sep:
        host, port_text = "", rest
    host = host.strip("[]") or "127.0.0.1"
    try:
        port = int(port_text or "0")
    except ValueError:
        port = -1
    if not 0 <= port <= 0xFFFF:
        raise InvalidInputError(
            f"link {spec!r}: {port_text!r} is not a TCP port (0-65535; 0 picks a free one)"
        )
    return "tcp", host, port


PROG = "python -m firmware_sim serve"
USAGE = f"""usage: {PROG} [--link pty|tcp:HOST:PORT|ble-virtual|ble:TRANSPORT] [--state FILE]
    [--clock real|fixed:UNIX|offset:SECONDS] [--button auto|deny|manual|scripted:STEPS]
    [--keys N] [--faults SPEC] [--keyboard passkey|just-works] [--gesture KIND:NAME]
    [-v | -q] [--no-announce]

Serve simulated keys; prints 'READY <device URL>' on stdout per key once it accepts connections.

  --link pty            serve on a new pty (default); the URL is its device path
  --link tcp:HOST:PORT  serve on TCP; port 0 picks a free port (one client at a time per key)
  --link ble-virtual    serve as BLE peripherals on a virtual radio other processes join; the
                        URL is ble://ADDRESS?hci=tcp-client:127.0.0.1:PORT
  --link ble:TRANSPORT  serve one key as a real BLE peripheral on a Bumble HCI transport
                        (e.g. ble:usb:0); the URL is ble://ADDRESS
  --state FILE          state file; key N of --keys uses FILE.N (default: a temporary directory)
  --clock SPEC          real (default, set by the host), fixed:UNIX or offset:SECONDS
  --button SPEC         auto (default), deny, manual (SIGUSR1 presses, SIGUSR2 declines)
                        or scripted:press,deny,timeout
  --keys N              serve N independent keys (N ptys or ports, one READY line each)
  --faults SPEC         inject faults, e.g. drop=0.05,corrupt=0.01@in,delay=0.01:200ms,
                        duplicate=0.02,disconnect-after=40,power-cut-after-writes=3,seed=7
  --keyboard PAIRING    BLE: the key is also a Bluetooth keyboard (HID over GATT); bonding
                        shows a passkey on the log (passkey) or needs none (just-works)
  --gesture KIND:NAME   BLE: a button gesture (long-press or double-press; kill -URG PID
                        makes it) types NAME's code and Enter; implies --keyboard passkey
  -v, --verbose         log every connection and every frame in hex
  -q, --quiet           log warnings only
  --no-announce         do not list the keys in device discovery (keybridge devices)
"""

_VALUED = (
    "--link",
    "--state",
    "--clock",
    "--button",
    "--keys",
    "--faults",
    "--keyboard",
    "--gesture",
)
_FLAGS = {"-v": "--verbose", "--verbose": "--verbose", "-q": "--quiet", "--quiet": "--quiet"}


def _usage_error(message: str) -> NoReturn:
    # One line, not a usage block: scripts and CI logs stay readable.
    sys.stderr.write(f"{PROG}: error: {message} (see --help)\n")
    raise SystemExit(2)


def _scan(argv: Sequence[str]) -> dict[str, str]:
    """``--option value`` / ``--option=value`` pairs and flags; argparse costs ~10 ms to import,
    a tenth of the cold-start budget, for eight options."""
    values: dict[str, str] = {}
    args = list(argv)
    while args:
        arg = args.pop(0)
        name, eq, value = arg.partition("=")
        if arg in ("-h", "--help"):
            sys.stdout.write(USAGE)
            raise SystemExit(0)
        if arg in _FLAGS or arg == "--no-announce":
            values[_FLAGS.get(arg, arg)] = "1"
        elif name in _VALUED:
            if not eq:
                if not args:
                    _usage_error(f"{name} needs a value")
                value = args.pop(0)
            values[name] = value
        else:
            _usage_error(f"unknown argument {arg!r}")
    return values


def parse_args(argv: Sequence[str]) -> ServeOptions:
    """Options from ``serve``'s arguments; exits 2 with a one-line error on bad input."""
    values = _scan(argv)
    clock = values.get("--clock", ServeOptions.clock)
    button = values.get("--button", ServeOptions.button)
    try:
        keys = int(values.get("--keys", "1"))
    except ValueError:
        _usage_error(f"--keys {values['--keys']!r} is not a number")
    try:
        link, host, port = parse_link(values.get("--link", "pty"))
        _check_specs(clock, button)
    except InvalidInputError as exc:
        _usage_error(str(exc))
    if not 1 <= keys <= MAX_KEYS:
        _usage_error(f"--keys {keys}: serve between 1 and {MAX_KEYS} keys")
    if link == "tcp" and port and port + keys - 1 > 0xFFFF:
        _usage_error(f"--keys {keys} from port {port} runs past port 65535")
    if "--verbose" in values and "--quiet" in values:
        _usage_error("--verbose and --quiet exclude each other")
    faults = values.get("--faults", "")
    if faults:
        from firmware_sim.links.fault_spec import parse_faults

        try:
            spec = parse_faults(faults)
        except InvalidInputError as exc:
            _usage_error(str(exc))
        if spec.link_faults and link not in ("pty", "tcp"):
            _usage_error(
                "--faults: link faults work on pty and tcp links; on BLE, only "
                "power-cut-after-writes"
            )
    keyboard, gesture = _keyboard_options(values, link)
    state = values.get("--state")
    return ServeOptions(
        link=link,
        host=host or ServeOptions.host,
        port=port,
        state=Path(state) if state else None,
        clock=clock,
        button=button,
        keys=keys,
        verbosity=1 if "--verbose" in values else -1 if "--quiet" in values else 0,
        announce="--no-announce" not in values,
        faults=faults,
        keyboard=keyboard,
        gesture=gesture,
    )


def _keyboard_options(values: dict[str, str], link: str) -> tuple[str, str]:
    keyboard = values.get("--keyboard", "")
    gesture = values.get("--gesture", "")
    if keyboard and keyboard not in ("passkey", "just-works"):
        _usage_error(f"--keyboard {keyboard!r}: use passkey or just-works")
    if gesture:
        from firmware_sim.firmware.keyboard_out import Gesture

        try:
            Gesture.parse(gesture)
        except InvalidInputError as exc:
            _usage_error(f"--gesture: {exc}")
        keyboard = keyboard or "passkey"
    if keyboard and not link.startswith("ble"):
        _usage_error("--keyboard and --gesture need a BLE link (--link ble-virtual or ble:...)")
    return keyboard, gesture


def _check_specs(clock: str, button: str) -> None:
    from firmware_sim.firmware.button import Button
    from firmware_sim.firmware.clock import KeyClock

    KeyClock.parse(clock)
    Button.parse(button)


def make_firmware(options: ServeOptions, state: Path) -> Device:
    """One key: its own flash file, clock and button."""
    from firmware_sim.firmware.button import Button
    from firmware_sim.firmware.clock import KeyClock
    from firmware_sim.firmware.core import Firmware
    from firmware_sim.firmware.device_key import encrypted_flash

    # Secrets are sealed under a device key in STATE.devkey, kept apart from the state file.
    if options.faults:
        from firmware_sim.links.faults import faulty_flash

        flash = faulty_flash(state, options.faults)
    else:
        flash = encrypted_flash(state)
    return Firmware(flash, KeyClock.parse(options.clock), Button.parse(options.button))


def seeded(options: ServeOptions) -> ServeOptions:
    """``options`` with a seed in its faults (picked now if none was given, and logged, so a
    run can be replayed)."""
    if not options.faults:
        return options
    import dataclasses

    from firmware_sim.links.faults import with_seed

    faults = with_seed(options.faults)
    log.info("faults: %s", faults)
    return dataclasses.replace(options, faults=faults)


class KeyServer:
    """Serves ``options.keys`` keys on one :class:`Reactor` (the calling thread runs it)."""

    def __init__(
        self,
        options: ServeOptions,
        *,
        make_device: Callable[[ServeOptions, Path], Device] = make_firmware,
    ) -> None:
        self.options = options = seeded(options)
        self.reactor = Reactor()
        self._make_device = make_device
        self._tempdir: Path | None = None
        self.ports: list[Port] = []
        self.links: list[PtyLink | TcpLink] = []
        self.urls: list[str] = []
        self._announcements: list[Path] = []

    def start(self) -> list[str]:
        """Load every key and open its link; returns the device URLs in key order."""
        base = self.options.state
        if base is None:
            self._tempdir = make_private_dir()
            base = self._tempdir / "key.state"
        try:
            for index, path in enumerate(state_paths(base, self.options.keys), start=1):
                device = self._make_device(self.options, path)
                port: Port = FramedPort(device, self.reactor, name=f"key {index}")
                faulty = None
                if self.options.faults:
                    from firmware_sim.links.faults import faulty_port

                    port = faulty = faulty_port(port, self.reactor, self.options.faults)
                link: PtyLink | TcpLink
                if self.options.link == "pty":
                    from firmware_sim.links.pty import PtyLink

                    link = PtyLink(port, self.reactor)
                else:
                    from firmware_sim.links.tcp import TcpLink

                    tcp_port = self.options.port + index - 1 if self.options.port else 0
                    link = TcpLink(port, self.reactor, self.options.host, tcp_port)
                if faulty is not None:
                    faulty.on_hang_up = link.hang_up
                self.ports.append(port)
                self.links.append(link)
                url = link.open()
                self.urls.append(url)
                log.info("key %d: serving on %s (state %s)", index, url, path)
        except BaseException:
            self.close()
            raise
        return self.urls

    def press(self) -> int:
        """Press the button of every key that waits; returns how many did."""
        return self._button("press", "pressed")

    def decline(self) -> int:
        """Decline on every key that waits; returns how many did."""
        return self._button("decline", "declined")

    def _button(self, action: str, what: str) -> int:
        count = 0
        for port in self.ports:
            # The core exposes its Button as ``button``; a device without one has none to press.
            button = getattr(port.device, "button", None)
            if button is not None and getattr(button, action)():
                count += 1
                log.info("%s: button %s", port.name, what)
                port.poke()
        if not count:
            log.info("no key waits for its button; nothing %s", what)
        return count

    def announce(self) -> None:
        """Let ``keybridge devices`` find these keys (a file per key while they serve)."""
        from keybridge.discovery import announce_simulator

        for port, url in zip(self.ports, self.urls, strict=True):
            try:
                self._announcements.append(
                    announce_simulator(url, str(getattr(port.device, "serial", "?")))
                )
            except OSError as exc:
                log.warning("%s: cannot announce %s: %s", port.name, url, exc)

    def run(self) -> None:
        """Serve until :meth:`stop`."""
        self.reactor.run()

    def stop(self) -> None:
        self.reactor.stop()

    def close(self) -> None:
        """Close every link and remove a temporary state directory."""
        for link in self.links:
            try:
                link.close()
            except OSError as exc:
                log.warning("closing %s: %s", link.url, exc)
        self.links.clear()
        for path in self._announcements:
            path.unlink(missing_ok=True)
        self._announcements.clear()
        self.reactor.close()
        if self._tempdir is not None:
            import shutil

            shutil.rmtree(self._tempdir, ignore_errors=True)
            self._tempdir = None


def serve(options: ServeOptions, *, stdout: TextIO | None = None) -> int:
    """Run keys until SIGINT/SIGTERM; prints the READY lines. Returns the exit status."""
    out = stdout if stdout is not None else sys.stdout
    if options.link.startswith("ble"):
        from firmware_sim.links.ble_keys import serve_ble_keys

        return serve_ble_keys(seeded(options), make_firmware, stdout=out)
    server = KeyServer(options)
    try:
        urls = server.start()
    except (KeybridgeError, OSError) as exc:
        log.error("cannot start: %s", exc)
        return 1
    try:
        reactor = server.reactor
        for signum in (signal.SIGINT, signal.SIGTERM):
            reactor.add_signal_handler(signum, server.stop)
        reactor.add_signal_handler(signal.SIGUSR1, server.press)
        reactor.add_signal_handler(signal.SIGUSR2, server.decline)
        out.write("".join(f"READY {url}\n" for url in urls))
        out.flush()
        if options.announce:
            server.announce()
        server.run()
        log.info("stopping")
    finally:
        server.close()
    return 0


def configure_logging(verbosity: int) -> None:
    """Log to stderr without ever waiting for it (lines are dropped and counted instead)."""
    from firmware_sim.links.log_handler import NonBlockingHandler

    level = {-1: logging.WARNING, 0: logging.INFO}.get(verbosity, logging.DEBUG)
    handler: logging.Handler
    try:
        handler = NonBlockingHandler(sys.stderr.fileno())
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation: no descriptor
        handler = logging.StreamHandler(sys.stderr)  # a stream in memory never blocks
    handler.setFormatter(logging.Formatter("firmware_sim: %(message)s"))
    root = logging.getLogger("firmware_sim")
    root.addHandler(handler)
    root.setLevel(level)


def main(argv: Sequence[str]) -> int:
    """Entry point of ``serve``: parse ``serve``'s arguments (a leading ``"serve"`` is
    skipped), log to stderr, serve. Returns the exit status."""
    argv = list(argv)
    if argv[:1] == ["serve"]:
        argv = argv[1:]
    options = parse_args(argv)
    configure_logging(options.verbosity)
    return serve(options)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))

"""The agent's global hotkey on the X server: a press types the key's code into the focused window.

:class:`HotkeyService` grabs the hotkey (default Ctrl+Alt+O) on the root window with
python-xlib, once per combination of the lock modifiers (Caps Lock, Num Lock) so it works
whichever are on. On a press it reads the focused window (title, class), has the agent compute
the code and produce the reports for the desktop's layout (:meth:`Agent.type_code`, the key
computing while the user lets go), waits until the hotkey's own keys are up (the keymap is
queried: the grab holds the keyboard until then, and a Ctrl still down would turn digits into
shortcuts), then types through the X11 backend, Enter included unless ``enter=False``.

When the X server's keymap changes (another layout), the hotkey is grabbed again where its key
now is. Failures are one line, shown as a notification, and the agent goes on: a hotkey another
program holds (the X server answers BadAccess), a display that goes away (the hotkey is off;
the agent keeps serving its socket), a key that refuses or is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from keybridge.agent.notify import notify
from keybridge.agent.windows import Rule, focused_window
from keybridge.errors import InvalidInputError, KeybridgeError

if TYPE_CHECKING:
    from Xlib.display import Display

    from keybridge.agent.core import TypeResult, WindowInfo
    from keybridge.keyboard.backends import KeyboardBackend
    from keybridge.protocol.channel import KeepaliveCallback

__all__ = [
    "DEFAULT_HOTKEY",
    "Hotkey",
    "HotkeyError",
    "HotkeyOptions",
    "HotkeyService",
    "Typist",
]

log = logging.getLogger(__name__)

DEFAULT_HOTKEY = "ctrl+alt+o"

RELEASE_POLL = 0.005
"""Seconds between keymap queries while the hotkey's keys are still down."""

# X modifier masks (X.h): Shift, Lock, Control, Mod1..Mod5.
_SHIFT, _LOCK, _CONTROL, _MOD1, _MOD4 = 1 << 0, 1 << 1, 1 << 2, 1 << 3, 1 << 6
_MODIFIERS = {
    "shift": _SHIFT,
    "ctrl": _CONTROL,
    "control": _CONTROL,
    "alt": _MOD1,
    "super": _MOD4,
    "win": _MOD4,
    "meta": _MOD4,
}


class HotkeyError(KeybridgeError):
    """The hotkey cannot be had: a bad spec, a key not on the keymap, another program's grab."""


@dataclass(frozen=True)
class Hotkey:
    """A key and the modifiers held with it, as X sees them (keysym, modifier mask)."""

    spec: str
    keysym: int
    modifiers: int

    @classmethod
    def parse(cls, spec: str) -> Hotkey:
        """``"ctrl+alt+o"``, ``"Super+F9"``: modifiers (ctrl, alt, shift, super) and one key."""
        from Xlib import XK

        parts = [part.strip() for part in spec.split("+")]
        if len(parts) < 2 or not all(parts):
            raise InvalidInputError(
                f"hotkey {spec!r}: write modifiers and a key joined by '+', e.g. ctrl+alt+o"
            )
        modifiers = 0
        for name in parts[:-1]:
            mask = _MODIFIERS.get(name.lower())
            if mask is None:
                raise InvalidInputError(
                    f"hotkey {spec!r}: unknown modifier {name!r}: use ctrl, alt, shift or super"
                )
            modifiers |= mask
        key = parts[-1]
        keysym = XK.string_to_keysym(key.lower() if len(key) == 1 else key)
        if keysym == 0:
            raise InvalidInputError(
                f"hotkey {spec!r}: unknown key {key!r}: use a letter, a digit or an X key name "
                "such as F9"
            )
        return cls("+".join(parts), keysym, modifiers)


@dataclass(frozen=True)
class HotkeyOptions:
    """How the agent's hotkey works (``keybridge agent --hotkey ... --credential ...``)."""

    hotkey: Hotkey
    display: str | None = None
    """The X display (default ``$DISPLAY``)."""
    credential: str | None = None
    """Always this credential (else: the config rules, or the only one on the key)."""
    enter: bool = True
    layout: str | None = None
    """The layout the key types for (else the desktop's, else us)."""
    rules: tuple[Rule, ...] = ()
    """Config-file rules matching the focused window to a credential."""


class Typist(Protocol):
    """What the hotkey needs of the agent (:class:`~keybridge.agent.core.Agent`)."""

    async def type_code(
        self,
        credential: str | None = None,
        window: WindowInfo | None = None,
        *,
        enter: bool = True,
        layout: str | None = None,
        on_keepalive: KeepaliveCallback | None = None,
    ) -> TypeResult: ...


class HotkeyService:
    """Grabs ``hotkey`` on ``display`` (default ``$DISPLAY``) and types codes through ``agent``.

    ``credential`` fixes the credential (else the agent picks: rules, or the only one);
    ``layout`` fixes the layout the key types for (else the desktop's, else us). ``keyboard``
    is the backend the code is typed with (default: X11 on the same display); the agent itself
    must have none, or it would type before the hotkey's keys are up. ``presses`` counts the
    presses handled; ``results`` keeps what each typed (or the error it met).
    """

    def __init__(
        self,
        agent: Typist,
        hotkey: Hotkey | str = DEFAULT_HOTKEY,
        *,
        display: str | None = None,
        credential: str | None = None,
        enter: bool = True,
        layout: str | None = None,
        keyboard: KeyboardBackend | None = None,
        tell: Callable[..., None] = notify,
    ) -> None:
        self.agent = agent
        self.hotkey = Hotkey.parse(hotkey) if isinstance(hotkey, str) else hotkey
        self.credential = credential
        self.enter = enter
        self.layout = layout
        self._display_name = display
        self._keyboard = keyboard
        self._tell = tell
        self._conn: Display | None = None
        self._keycode = 0
        self._held_keycodes: frozenset[int] = frozenset()
        self._ignored = 0
        self._task: asyncio.Task[None] | None = None
        self._gone: asyncio.Future[None] | None = None
        self._fd = -1
        self.results: list[TypeResult | KeybridgeError] = []
        self.typed = asyncio.Event()
        """Set after each press has been handled (typed or failed); tests clear it."""

    # Grab and event loop ---------------------------------------------------------------------

    def grab(self) -> None:
        """Connect and grab the hotkey; raises a one-line error if it cannot be had."""
        from keybridge.keyboard.x11 import open_display

        conn = open_display(self._display_name)
        try:
            self._grab(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def try_grab(self) -> bool:
        """:meth:`grab`, saying why (one line, notified) if the hotkey cannot be had."""
        try:
            self.grab()
        except KeybridgeError as exc:
            self._tell(str(exc), urgent=True)
            return False
        return True

    def _grab(self, conn: Display) -> None:
        from Xlib import X, error

        keycode = conn.keysym_to_keycode(self.hotkey.keysym)
        if not keycode:
            raise HotkeyError(
                f"the hotkey {self.hotkey.spec}: its key is not on the X server's keymap; "
                "choose another with --hotkey"
            )
        mapping = conn.get_modifier_mapping()
        num_lock = self._mask_of(conn, mapping, "Num_Lock")
        self._ignored = _LOCK | num_lock
        # The keys whose being down must end before typing: the hotkey's key and every
        # Shift, Control, Alt and Super key (Lock and Num Lock latch, they are not held).
        held = {keycode}
        for index in (0, 2, 3, 6):  # Shift, Control, Mod1, Mod4
            held.update(code for code in mapping[index] if code)
        self._keycode, self._held_keycodes = keycode, frozenset(held)
        root = conn.screen().root
        catch = error.CatchError(error.BadAccess)
        for extra in {0, _LOCK, num_lock, _LOCK | num_lock}:
            root.grab_key(
                keycode,
                self.hotkey.modifiers | extra,
                True,
                X.GrabModeAsync,
                X.GrabModeAsync,
                onerror=catch,
            )
        conn.sync()
        if catch.get_error() is not None:
            with contextlib.suppress(error.XError):
                root.ungrab_key(keycode, X.AnyModifier)
                conn.sync()
            raise HotkeyError(
                f"the hotkey {self.hotkey.spec} is taken by another program on "
                f"{conn.get_display_name()}: choose another with --hotkey (the agent goes on "
                "without a hotkey)"
            )

    @staticmethod
    def _mask_of(conn: Display, mapping: Any, keysym_name: str) -> int:
        from Xlib import XK

        keycode = conn.keysym_to_keycode(XK.string_to_keysym(keysym_name))
        for index, codes in enumerate(mapping):
            if keycode and keycode in codes:
                return 1 << index
        return 0

    async def run(self) -> None:
        """Grab (if not yet) and handle presses until cancelled or the display goes away.

        Never raises for the desktop's sake: what goes wrong is one line (notified), and the
        method returns so the agent can go on without the hotkey.
        """
        if self._conn is None and not self.try_grab():
            return
        conn = self._conn
        assert conn is not None
        loop = asyncio.get_running_loop()
        self._gone = loop.create_future()
        self._fd = conn.fileno()  # python-xlib raises for fileno() once the server is gone
        loop.add_reader(self._fd, self._readable)
        log.info("hotkey %s grabbed on %s", self.hotkey.spec, conn.get_display_name())
        try:
            self._readable()  # events read during the grab's round trips
            await self._gone
        finally:
            loop.remove_reader(self._fd)
            if self._task is not None:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._task
            self.close()

    def _readable(self) -> None:
        from Xlib import X, error

        conn = self._conn
        if conn is None:
            return
        try:
            while conn.pending_events():
                event = conn.next_event()
                if (
                    event.type == X.KeyPress
                    and event.detail == self._keycode
                    and event.state & ~self._ignored & 0xFF == self.hotkey.modifiers
                ):
                    self._pressed()
                elif event.type == X.MappingNotify and event.request != X.MappingPointer:
                    self._remap(conn, event)
        except (error.ConnectionClosedError, error.XError, OSError) as exc:
            self._tell(
                f"the X display {conn.get_display_name()} went away ({exc}): the hotkey is off; "
                "the agent goes on serving keybridge commands",
                urgent=True,
            )
            asyncio.get_running_loop().remove_reader(self._fd)
            if self._gone is not None and not self._gone.done():
                self._gone.set_result(None)

    def _remap(self, conn: Display, event: Any) -> None:
        """The keymap changed (another layout): grab the hotkey's key where it is now."""
        from Xlib import X

        conn.refresh_keyboard_mapping(event)
        if conn.keysym_to_keycode(self.hotkey.keysym) == self._keycode:
            # The X server also sends this when the keyboard sending events changes (each
            # device has its keymap): the key has not moved, and the grab stays as it is.
            return
        conn.screen().root.ungrab_key(self._keycode, X.AnyModifier)
        try:
            self._grab(conn)
        except HotkeyError as exc:
            self._tell(str(exc), urgent=True)
            self._keycode = 0  # nothing matches until the next keymap change
        else:
            log.info("keymap changed: hotkey %s grabbed again", self.hotkey.spec)

    def _pressed(self) -> None:
        if self._task is not None and not self._task.done():
            log.info("hotkey pressed while a code is being typed: ignored")
            return
        self._task = asyncio.get_running_loop().create_task(self._type())

    # One press -------------------------------------------------------------------------------

    async def _type(self) -> None:
        try:
            result = await self._type_once()
        except KeybridgeError as exc:
            self.results.append(exc)
            self._tell(str(exc), urgent=True)
        else:
            self.results.append(result)
            log.info("typed the code for %s (%s)", result.name, result.layout)
        finally:
            self.typed.set()
            # Events that came in during this press's round trips wait in the queue.
            asyncio.get_running_loop().call_soon(self._readable)

    async def _type_once(self) -> TypeResult:
        from keybridge.keyboard import get_layout
        from keybridge.keyboard.desktop import resolve_layout
        from keybridge.protocol.constants import KeepaliveReason

        conn = self._conn
        assert conn is not None
        window = focused_window(conn)
        layout = resolve_layout(self.layout, self._display_name)
        told = False

        def on_keepalive(reason: int, ms_left: int) -> None:
            nonlocal told
            if reason == KeepaliveReason.WAITING_FOR_BUTTON and not told:
                told = True
                self._tell("Press the button on your key to type the code")

        # The key computes while the user lets go of the hotkey.
        computing = asyncio.ensure_future(
            self.agent.type_code(
                self.credential,
                window,
                enter=self.enter,
                layout=layout,
                on_keepalive=on_keepalive,
            )
        )
        try:
            await self._released()
            result = await computing
        finally:
            computing.cancel()
        if not result.delivered:
            await self._backend().deliver(result.reports, get_layout(result.layout))
        return result

    async def _released(self) -> None:
        """Return once none of the hotkey's keys is down (by the X server's keymap)."""
        conn = self._conn
        assert conn is not None
        while True:
            keymap = conn.query_keymap()
            if not any(keymap[code >> 3] >> (code & 7) & 1 for code in self._held_keycodes):
                return
            await asyncio.sleep(RELEASE_POLL)

    def _backend(self) -> KeyboardBackend:
        if self._keyboard is None:
            from keybridge.keyboard.backends import OsBackend

            self._keyboard = OsBackend(driver="x11", display=self._display_name)
        return self._keyboard

    def close(self) -> None:
        """Let go of the grab and the X connections."""
        from Xlib import error

        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(error.ConnectionClosedError, OSError):
                conn.close()
        keyboard = self._keyboard
        close = getattr(keyboard, "close", None)
        if callable(close):
            close()

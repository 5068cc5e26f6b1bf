"""HID Keyboard/Keypad usage page (0x07): the usages keybridge types, and the modifier bits.

Usages name *physical key positions* on a US keyboard; what a key produces depends on the layout
the host has selected (see :mod:`keybridge.keyboard.layouts`). Values from the USB HID Usage
Tables, section "Keyboard/Keypad Page (0x07)".
"""

from __future__ import annotations

from enum import IntEnum, IntFlag

__all__ = [
    "LINUX_KEYCODES",
    "LINUX_MODIFIER_KEYCODES",
    "Modifier",
    "Usage",
]


class Modifier(IntFlag):
    """Bits of the boot-report modifier byte (usages 0xE0..0xE7)."""

    NONE = 0x00
    LEFT_CTRL = 0x01
    LEFT_SHIFT = 0x02
    LEFT_ALT = 0x04
    LEFT_GUI = 0x08
    RIGHT_CTRL = 0x10
    RIGHT_SHIFT = 0x20
    RIGHT_ALT = 0x40
    RIGHT_GUI = 0x80

    # Layout levels are reached with these; AltGr is the right Alt key on ISO keyboards.
    SHIFT = LEFT_SHIFT
    ALTGR = RIGHT_ALT


class Usage(IntEnum):
    """Keyboard page usages for the keys keybridge's layouts use (named after US legends)."""

    NO_EVENT = 0x00
    ERROR_ROLL_OVER = 0x01
    A = 0x04
    B = 0x05
    C = 0x06
    D = 0x07
    E = 0x08
    F = 0x09
    G = 0x0A
    H = 0x0B
    I = 0x0C  # noqa: E741 - the key's legend
    J = 0x0D
    K = 0x0E
    L = 0x0F
    M = 0x10
    N = 0x11
    O = 0x12  # noqa: E741 - the key's legend
    P = 0x13
    Q = 0x14
    R = 0x15
    S = 0x16
    T = 0x17
    U = 0x18
    V = 0x19
    W = 0x1A
    X = 0x1B
    Y = 0x1C
    Z = 0x1D
    DIGIT_1 = 0x1E
    DIGIT_2 = 0x1F
    DIGIT_3 = 0x20
    DIGIT_4 = 0x21
    DIGIT_5 = 0x22
    DIGIT_6 = 0x23
    DIGIT_7 = 0x24
    DIGIT_8 = 0x25
    DIGIT_9 = 0x26
    DIGIT_0 = 0x27
    ENTER = 0x28
    ESCAPE = 0x29
    BACKSPACE = 0x2A
    TAB = 0x2B
    SPACE = 0x2C
    MINUS = 0x2D
    EQUAL = 0x2E
    LEFT_BRACKET = 0x2F
    RIGHT_BRACKET = 0x30
    BACKSLASH = 0x31
    NON_US_HASH = 0x32  # ISO key left of Enter (UK '#', DE '#', FR '*')
    SEMICOLON = 0x33
    APOSTROPHE = 0x34
    GRAVE = 0x35
    COMMA = 0x36
    PERIOD = 0x37
    SLASH = 0x38
    NON_US_BACKSLASH = 0x64  # ISO key right of left Shift (UK '\', DE/FR '<')


LINUX_KEYCODES: dict[int, int] = {
    # Linux input-event-codes KEY_* for each usage above, as the kernel's HID driver maps them;
    # the uinput backend emits these so the OS applies its own layout, as for a real keyboard.
    Usage.A: 30, Usage.B: 48, Usage.C: 46, Usage.D: 32, Usage.E: 18, Usage.F: 33,
    Usage.G: 34, Usage.H: 35, Usage.I: 23, Usage.J: 36, Usage.K: 37, Usage.L: 38,
    Usage.M: 50, Usage.N: 49, Usage.O: 24, Usage.P: 25, Usage.Q: 16, Usage.R: 19,
    Usage.S: 31, Usage.T: 20, Usage.U: 22, Usage.V: 47, Usage.W: 17, Usage.X: 45,
    Usage.Y: 21, Usage.Z: 44,
    Usage.DIGIT_1: 2, Usage.DIGIT_2: 3, Usage.DIGIT_3: 4, Usage.DIGIT_4: 5, Usage.DIGIT_5: 6,
    Usage.DIGIT_6: 7, Usage.DIGIT_7: 8, Usage.DIGIT_8: 9, Usage.DIGIT_9: 10, Usage.DIGIT_0: 11,
    Usage.ENTER: 28, Usage.ESCAPE: 1, Usage.BACKSPACE: 14, Usage.TAB: 15, Usage.SPACE: 57,
    Usage.MINUS: 12, Usage.EQUAL: 13, Usage.LEFT_BRACKET: 26, Usage.RIGHT_BRACKET: 27,
    Usage.BACKSLASH: 43, Usage.NON_US_HASH: 43, Usage.SEMICOLON: 39, Usage.APOSTROPHE: 40,
    Usage.GRAVE: 41, Usage.COMMA: 51, Usage.PERIOD: 52, Usage.SLASH: 53,
    Usage.NON_US_BACKSLASH: 86,
}  # fmt: skip
"""HID usage -> Linux ``KEY_*`` code (``KEY_A`` is 30, ``KEY_102ND`` is 86, ...)."""

LINUX_MODIFIER_KEYCODES: dict[Modifier, int] = {
    Modifier.LEFT_CTRL: 29,  # KEY_LEFTCTRL
    Modifier.LEFT_SHIFT: 42,  # KEY_LEFTSHIFT
    Modifier.LEFT_ALT: 56,  # KEY_LEFTALT
    Modifier.LEFT_GUI: 125,  # KEY_LEFTMETA
    Modifier.RIGHT_CTRL: 97,  # KEY_RIGHTCTRL
    Modifier.RIGHT_SHIFT: 54,  # KEY_RIGHTSHIFT
    Modifier.RIGHT_ALT: 100,  # KEY_RIGHTALT
    Modifier.RIGHT_GUI: 126,  # KEY_RIGHTMETA
}
"""Modifier bit -> Linux ``KEY_*`` code of the modifier key."""

"""The credential table: validation of what hosts send, and the table operations.

Every function is pure: it takes a :class:`KeyState` and returns a new one (or a result), and
refuses bad input with :class:`~firmware_sim.firmware.dispatch.Refused`, which the core turns
into a status and a DETAIL field.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from firmware_sim.firmware.dispatch import Refused
from firmware_sim.firmware.state import MAX_COUNTER, Credential, KeyState, name_problem
from keybridge.errors import InvalidInputError, UnsupportedCharacterError
from keybridge.otp.codes import OtpKind, hotp, time_step
from keybridge.protocol.commands import ListEntry, OtpListResponse, OtpPutRequest
from keybridge.protocol.constants import (
    CAPACITY,
    DIGITS_MAX,
    DIGITS_MIN,
    LIST_PAGE_BYTES,
    PERIOD_MAX,
    PERIOD_MIN,
    SECRET_MAX_BYTES,
    SECRET_MIN_BYTES,
    Status,
)
from keybridge.protocol.messages import encode_fields
from keybridge.protocol.record import Record

if TYPE_CHECKING:
    # The keyboard tables load on the first request that names a layout (OTP_TYPE, or OTP_PUT
    # with a LAYOUT), not at start: the simulator's cold start has a budget.
    from keybridge.keyboard.layouts import Layout

__all__ = [
    "MAX_COUNTER",
    "Computed",
    "check_computable",
    "check_typeable",
    "compute_code",
    "credential_from_put",
    "delete",
    "list_page",
    "lookup",
    "put",
    "rename",
    "resolve_layout",
    "type_reports",
    "validate_name",
]

U64_MAX = 2**64 - 1
_TOTP = OtpKind.TOTP  # read once: an enum member lookup is slow on Python 3.11

_FIELD_HEADER_BYTES = 3


def validate_name(name: str, field: str = "NAME") -> None:
    problem = name_problem(name, field)
    if problem is not None:
        raise Refused(Status.BAD_PARAMETER, problem)


def resolve_layout(layout_id: str) -> Layout:
    """The keyboard layout ``layout_id`` names, or UNSUPPORTED_LAYOUT."""
    from keybridge.keyboard.layouts import LAYOUT_IDS, get_layout

    try:
        return get_layout(layout_id)
    except InvalidInputError:
        raise Refused(
            Status.UNSUPPORTED_LAYOUT,
            f"layout {layout_id!r} is not known: use one of {', '.join(LAYOUT_IDS)}",
        ) from None


def credential_from_put(request: OtpPutRequest) -> Credential:
    """Validate every field of an OTP_PUT; nothing is stored yet."""
    validate_name(request.name)
    if not SECRET_MIN_BYTES <= len(request.secret) <= SECRET_MAX_BYTES:
        raise Refused(
            Status.BAD_PARAMETER,
            f"SECRET is {len(request.secret)} bytes; it must be "
            f"{SECRET_MIN_BYTES} to {SECRET_MAX_BYTES}",
        )
    if not DIGITS_MIN <= request.digits <= DIGITS_MAX:
        raise Refused(
            Status.BAD_PARAMETER,
            f"DIGITS is {request.digits}; it must be {DIGITS_MIN} to {DIGITS_MAX}",
        )
    if not PERIOD_MIN <= request.period <= PERIOD_MAX:
        raise Refused(
            Status.BAD_PARAMETER,
            f"PERIOD is {request.period} s; it must be {PERIOD_MIN} to {PERIOD_MAX}",
        )
    if request.kind == OtpKind.HOTP and request.counter > MAX_COUNTER:
        raise Refused(Status.BAD_PARAMETER, f"COUNTER must be at most {MAX_COUNTER}")
    layout = None if request.layout is None else resolve_layout(request.layout).id
    return Credential(
        name=request.name,
        secret=request.secret,
        kind=request.kind,
        algorithm=request.algorithm,
        digits=request.digits,
        period=request.period,
        counter=request.counter if request.kind == OtpKind.HOTP else 0,
        require_button=request.require_button,
        layout=layout,
    )


def put(state: KeyState, request: OtpPutRequest) -> KeyState:
    credential = credential_from_put(request)
    index = state.find(credential.name)
    if index is not None:
        if not request.overwrite:
            raise Refused(
                Status.ALREADY_EXISTS,
                f"a credential named {credential.name!r} exists; set OVERWRITE to replace it",
            )
        return state.replace_at(index, credential)
    if len(state.credentials) >= CAPACITY:
        raise Refused(
            Status.STORAGE_FULL, f"all {CAPACITY} credential slots are used; delete one first"
        )
    return state.adding(credential)


def lookup(state: KeyState, name: str) -> tuple[int, Credential]:
    validate_name(name)
    index = state.find(name)
    if index is None:
        raise Refused(Status.NOT_FOUND, f"no credential named {name!r}")
    return index, state.credentials[index]


def delete(state: KeyState, name: str) -> KeyState:
    index, _ = lookup(state, name)
    return state.without(index)


def rename(state: KeyState, name: str, new_name: str) -> KeyState:
    index, credential = lookup(state, name)
    validate_name(new_name, "NEW_NAME")
    if new_name == name:
        return state
    if state.find(new_name) is not None:
        raise Refused(Status.ALREADY_EXISTS, f"a credential named {new_name!r} exists")
    return state.replace_at(index, dataclasses.replace(credential, name=new_name))


def list_page(state: KeyState, start: int) -> OtpListResponse:
    """Entries in name order from ``start``, as many as fit in LIST_PAGE_BYTES (at least one)."""
    ordered = sorted(state.credentials, key=lambda c: c.name)
    entries: list[ListEntry] = []
    used = 0
    for credential in ordered[start:]:
        entry = ListEntry(
            name=credential.name,
            kind=credential.kind,
            algorithm=credential.algorithm,
            digits=credential.digits,
            period=credential.period,
            require_button=credential.require_button,
            layout=credential.layout,
        )
        size = _FIELD_HEADER_BYTES + len(encode_fields(entry.to_fields()))
        if entries and used + size > LIST_PAGE_BYTES:
            break
        entries.append(entry)
        used += size
    return OtpListResponse(total=len(ordered), entries=tuple(entries))


class Computed(Record):
    """A computed code; ``advanced`` is the credential to store (HOTP) or None (TOTP)."""

    code: str
    valid_until: int | None = None
    counter: int | None = None
    advanced: Credential | None = None
    source: Credential | None = dataclasses.field(default=None, repr=False, compare=False)
    """TOTP: the credential the code is of (``step`` says when), so it can be reused."""
    step: int | None = None


def check_computable(credential: Credential, now: float | None) -> None:
    """Refuse early what :func:`compute_code` would refuse (before asking for the button)."""
    if credential.kind == _TOTP:
        if now is None:
            raise Refused(
                Status.CLOCK_NOT_SET, "the key's clock was never set; send SET_TIME first"
            )
        if now < 0:
            raise Refused(Status.CLOCK_NOT_SET, f"the key's clock ({int(now)}) is before 1970")
    elif credential.counter > MAX_COUNTER:
        raise Refused(
            Status.BAD_PARAMETER,
            f"the HOTP counter of {credential.name!r} is exhausted; store the credential again",
        )


def compute_code(
    credential: Credential, now: float | None, previous: Computed | None = None
) -> Computed:
    """The credential's current code (TOTP at ``now``, HOTP at its stored counter).

    ``previous`` is a TOTP code computed before; when it is of this very credential (the same
    immutable object) for the same time step, it is the answer and no HMAC is computed again
    (hosts often ask for the code several times within a step).
    """
    check_computable(credential, now)
    if credential.kind == _TOTP:
        assert now is not None
        step = time_step(now, credential.period)
        if previous is not None and previous.source is credential and previous.step == step:
            return previous
        algorithm = credential.algorithm
        code = hotp(credential.secret, step, credential.digits, algorithm)
        valid_until = min((step + 1) * credential.period, U64_MAX)
        return Computed(code, valid_until, source=credential, step=step)
    counter = credential.counter
    code = hotp(credential.secret, counter, credential.digits, credential.algorithm)
    advanced = dataclasses.replace(credential, counter=counter + 1)
    return Computed(code, counter=counter, advanced=advanced)


def encode_text(text: str, layout: Layout) -> list[bytes]:
    """:func:`keybridge.keyboard.encode_text`, loaded on first use (not at the key's start)."""
    from keybridge.keyboard.reports import encode_text as encode

    return encode(text, layout)


def check_typeable(layout: Layout, enter: bool) -> None:
    """Refuse a layout that cannot type every digit (and Enter when asked) before any work."""
    try:
        encode_text("0123456789" + ("\n" if enter else ""), layout)
    except UnsupportedCharacterError as exc:
        raise Refused(Status.CANNOT_TYPE, str(exc)) from None


def type_reports(code: str, layout: Layout, enter: bool) -> bytes:
    try:
        return b"".join(encode_text(code + ("\n" if enter else ""), layout))
    except UnsupportedCharacterError as exc:
        raise Refused(Status.CANNOT_TYPE, str(exc)) from None

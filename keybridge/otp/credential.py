"""The one OTP credential model: a validated, frozen value, from a secret, a URI or a QR code.

:class:`Credential` is what the CLI builds from its options, what :meth:`KeySession.otp_put
<keybridge.session.KeySession.otp_put>` stores, what an HES enrolment offers and what the
protocol's OTP_PUT carries (its kind and algorithm are the wire's enums). It is built one of
three ways, all validated here and only here:

- :meth:`Credential.from_secret`: the Base32 secret as a person types it (HES shows it lowercase
  in groups of four; spaces, dashes and casing do not matter);
- :meth:`Credential.from_uri` (also :func:`parse_uri`): an ``otpauth://`` URI;
- :meth:`Credential.from_qr`: an image of the enrolment QR code.

``otpauth://TYPE/LABEL?PARAMETERS`` (the Key URI Format of Google Authenticator): TYPE is
``totp`` or ``hotp``, LABEL is ``issuer:account`` (percent-encoded; ``%3A`` is also a separator
and spaces after it are dropped) and the parameters are ``secret`` (required), ``issuer`` (must
agree with the label's prefix), ``algorithm`` (SHA1, SHA256, SHA512), ``digits`` (6..8),
``period`` (TOTP, seconds) and ``counter`` (HOTP, required); ``period`` in a HOTP URI and
``counter`` in a TOTP URI are ignored, as the format defines them for the other type only.
Unknown parameters (``image``, ...) are ignored. Neither issuer nor account may contain a colon,
as the format says.

:func:`build_uri` writes HES's form, ``otpauth://totp/HES.Web:{email}?secret=...&issuer=HES.Web&
digits=6``: secret, issuer (when there is one), then ``algorithm`` only when not SHA1, ``digits``
always, ``period`` only when not 30 and ``counter`` for HOTP. So HES's own URI round-trips
exactly, and ``parse_uri(build_uri(c)) == c`` for every :class:`Credential` with an account.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from keybridge.errors import InvalidInputError, InvalidSecretError, InvalidUriError
from keybridge.otp.codes import DIGITS_RANGE, Algorithm, OtpKind, hotp, totp
from keybridge.otp.names import control_character
from keybridge.otp.secret import decode_secret, encode_secret

__all__ = ["DEFAULT_PERIOD", "Credential", "build_uri", "parse_uri"]

DEFAULT_PERIOD = 30
"""TOTP step in seconds when a URI names none."""

_MAX_COUNTER = 2**64 - 1
_WHOLE_NUMBER = re.compile(r"[0-9]+")
_LABEL_SEPARATOR = re.compile(r":|%3A", re.IGNORECASE)
_EXAMPLE = "otpauth://totp/ISSUER:ACCOUNT?secret=BASE32KEY&issuer=ISSUER"


@dataclass(frozen=True)
class Credential:
    """One OTP credential: its kind, key bytes, label and code parameters.

    ``account`` and ``issuer`` are the label of its ``otpauth://`` URI; a credential made from a
    bare secret may have no account (``None``), and is then named when it is stored.
    ``counter`` is the next HOTP counter value (required for HOTP, ``None`` for TOTP);
    ``period`` applies to TOTP only and stays at its default for HOTP.
    """

    kind: OtpKind
    key: bytes = field(repr=False)  # never in logs or tracebacks
    account: str | None
    issuer: str | None = None
    algorithm: Algorithm = Algorithm.SHA1
    digits: int = 6
    period: int = DEFAULT_PERIOD
    counter: int | None = None

    def __post_init__(self) -> None:
        # Validated here too, so that hand-built params build a URI that parses back.
        encode_secret(self.key)
        for what, text in (("account", self.account), ("issuer", self.issuer)):
            if text is None:
                continue
            if not text or text != text.strip():
                raise InvalidInputError(
                    f"{what} {text!r} is empty or starts or ends with spaces: trim it"
                )
            if ":" in text:
                raise InvalidInputError(f"{what} {text!r} contains ':': remove the colon")
            found = control_character(text)
            if found is not None:
                raise InvalidInputError(
                    f"{what} {text!r} holds the control character U+{ord(found[1]):04X}: remove it"
                )
        if self.digits not in DIGITS_RANGE:
            raise InvalidInputError(f"{self.digits} digits is not supported: use 6, 7 or 8")
        if self.period <= 0:
            raise InvalidInputError(f"period {self.period} s is not positive: use e.g. 30")
        if self.kind == OtpKind.HOTP:
            if self.counter is None or not 0 <= self.counter <= _MAX_COUNTER:
                raise InvalidInputError(
                    f"HOTP counter {self.counter} is missing or out of range: use 0..2**64-1"
                )
            if self.period != DEFAULT_PERIOD:
                raise InvalidInputError("period applies to TOTP only: leave it at 30 for HOTP")
        elif self.counter is not None:
            raise InvalidInputError("counter applies to HOTP only: leave it None for TOTP")

    @classmethod
    def from_secret(
        cls,
        secret: str | bytes,
        *,
        account: str | None = None,
        issuer: str | None = None,
        kind: OtpKind | str = OtpKind.TOTP,
        algorithm: Algorithm | str = Algorithm.SHA1,
        digits: int = 6,
        period: int = DEFAULT_PERIOD,
        counter: int | None = None,
    ) -> Credential:
        """A credential from its secret: Base32 text as a person types it, or key bytes.

        Kind and algorithm may be given as text (``"hotp"``, ``"sha-256"``); a HOTP counter
        defaults to 0.
        """
        otp_kind = OtpKind.parse(kind)
        if otp_kind is OtpKind.HOTP and counter is None:
            counter = 0
        return cls(
            kind=otp_kind,
            key=decode_secret(secret) if isinstance(secret, str) else bytes(secret),
            account=account,
            issuer=issuer,
            algorithm=Algorithm.parse(algorithm),
            digits=digits,
            period=period,
            counter=counter,
        )

    @classmethod
    def from_uri(cls, uri: str) -> Credential:
        """The credential an ``otpauth://`` URI describes (see the module docstring)."""
        return parse_uri(uri)

    @classmethod
    def from_qr(cls, image: str | Path) -> Credential:
        """The credential of the ``otpauth://`` QR code in a screenshot or photo (needs the
        ``qr`` extra)."""
        from keybridge.otp.qr import read_otpauth_qr  # zxing-cpp and Pillow: only when used

        return parse_uri(read_otpauth_qr(image))

    @property
    def name(self) -> str | None:
        """The label, ``issuer:account`` (or the account alone): the name it is stored under
        unless another is given; ``None`` without an account."""
        if self.account is None:
            return None
        return f"{self.issuer}:{self.account}" if self.issuer else self.account

    def to_uri(self) -> str:
        """The ``otpauth://`` URI, in HES's form (see :func:`build_uri`)."""
        return build_uri(self)

    @property
    def secret(self) -> str:
        """The key as canonical uppercase unpadded Base32."""
        return encode_secret(self.key)

    def code(self, at: float | None = None, counter: int | None = None) -> str:
        """The code at unix time ``at`` (TOTP, default now) or at ``counter`` (HOTP, default
        the stored counter)."""
        if self.kind == OtpKind.TOTP:
            if counter is not None:
                raise InvalidInputError("counter applies to HOTP only: pass at= for TOTP")
            when = time.time() if at is None else at
            return totp(self.key, when, self.period, self.digits, self.algorithm)
        if at is not None:
            raise InvalidInputError("at applies to TOTP only: pass counter= for HOTP")
        step = self.counter if counter is None else counter
        assert step is not None  # __post_init__ requires a counter for HOTP
        return hotp(self.key, step, self.digits, self.algorithm)


def _parse_label(raw: str) -> tuple[str | None, str]:
    if not raw:
        raise InvalidUriError(f"the URI has no label: use {_EXAMPLE}")
    parts = _LABEL_SEPARATOR.split(raw)
    if len(parts) > 2:
        raise InvalidUriError(
            f"the label {unquote(raw)!r} has more than one ':': write it as ISSUER:ACCOUNT,"
            " neither of which may contain a colon"
        )
    account = unquote(parts[-1]).strip()
    if not account:
        raise InvalidUriError(f"the label {unquote(raw)!r} has no account name: use {_EXAMPLE}")
    issuer = unquote(parts[0]).strip() if len(parts) == 2 else ""
    return issuer or None, account


def _whole_number(name: str, value: str, fix: str) -> int:
    text = value.strip()
    # int() alone would also take '+5', '1_0' and non-ASCII digits.
    if not _WHOLE_NUMBER.fullmatch(text):
        raise InvalidUriError(f"{name}={value!r} is not a whole number: {fix}")
    if len(text) > 30:  # also keeps int() clear of its limit on huge digit strings
        raise InvalidUriError(f"{name}={text} is too large: {fix}")
    return int(text)


def parse_uri(uri: str) -> Credential:
    """The credential an ``otpauth://`` URI describes.

    Raises :class:`~keybridge.errors.InvalidUriError` naming the part that is wrong and the fix.
    """
    try:
        parts = urlsplit(uri.strip())
    except ValueError as exc:
        raise InvalidUriError(f"not a URI ({exc}): use {_EXAMPLE}") from None
    if parts.scheme.lower() != "otpauth":
        scheme = f"'{parts.scheme}:'" if parts.scheme else "no scheme"
        raise InvalidUriError(f"not an otpauth:// URI (it has {scheme}): use {_EXAMPLE}")
    try:
        kind = OtpKind[parts.netloc.upper()]
    except KeyError:
        raise InvalidUriError(
            f"OTP type {parts.netloc!r} is not supported: use otpauth://totp/... or"
            " otpauth://hotp/..."
        ) from None
    label_issuer, account = _parse_label(parts.path.removeprefix("/"))

    params: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        lower = name.lower()
        if lower in params:
            raise InvalidUriError(f"parameter {lower!r} appears more than once: keep one")
        params[lower] = value

    if "secret" not in params:
        raise InvalidUriError(f"the URI has no secret parameter: add secret=BASE32KEY ({_EXAMPLE})")
    try:
        key = decode_secret(params["secret"])
    except InvalidSecretError as exc:
        raise InvalidUriError(f"secret parameter: {exc}") from None

    issuer = params.get("issuer", "").strip() or None
    if issuer is not None and ":" in issuer:
        raise InvalidUriError(f"issuer={issuer!r} contains ':': remove the colon")
    if issuer is not None and label_issuer is not None and issuer != label_issuer:
        raise InvalidUriError(
            f"issuer={issuer!r} disagrees with the label's issuer {label_issuer!r}:"
            " make them the same, or drop one"
        )

    algorithm = Algorithm.SHA1
    if "algorithm" in params:
        try:
            algorithm = Algorithm.parse(params["algorithm"])
        except InvalidInputError:
            raise InvalidUriError(
                f"algorithm={params['algorithm']!r} is not supported: use SHA1, SHA256 or SHA512"
            ) from None

    digits = 6
    if "digits" in params:
        digits = _whole_number("digits", params["digits"], "use digits=6, 7 or 8")
        if digits not in DIGITS_RANGE:
            raise InvalidUriError(f"digits={digits} is not supported: use digits=6, 7 or 8")

    period = DEFAULT_PERIOD
    counter: int | None = None
    if kind is OtpKind.TOTP and "period" in params:
        fix = "use a positive number of seconds, e.g. period=30"
        period = _whole_number("period", params["period"], fix)
        if period <= 0:
            raise InvalidUriError(f"period={period} is not positive: {fix}")
    if kind is OtpKind.HOTP:
        if "counter" not in params:
            raise InvalidUriError(
                "a HOTP URI needs a counter parameter: add counter=N (the next counter value,"
                " e.g. counter=0)"
            )
        fix = "use the next counter value, 0..2**64-1, e.g. counter=0"
        counter = _whole_number("counter", params["counter"], fix)
        if counter > _MAX_COUNTER:
            raise InvalidUriError(f"counter={counter} is out of range: {fix}")

    return Credential(
        kind=kind,
        key=key,
        account=account,
        issuer=issuer or label_issuer,
        algorithm=algorithm,
        digits=digits,
        period=period,
        counter=counter,
    )


def build_uri(params: Credential) -> str:
    """The ``otpauth://`` URI of ``params``, in HES's form (see the module docstring)."""
    if params.account is None:
        raise InvalidInputError("a credential without an account has no URI: give an account")
    account = quote(params.account, safe="")
    label = f"{quote(params.issuer, safe='')}:{account}" if params.issuer else account
    query = [f"secret={params.secret}"]
    if params.issuer:
        query.append(f"issuer={quote(params.issuer, safe='')}")
    if params.algorithm is not Algorithm.SHA1:
        query.append(f"algorithm={params.algorithm.name}")
    query.append(f"digits={params.digits}")
    if params.kind == OtpKind.TOTP and params.period != DEFAULT_PERIOD:
        query.append(f"period={params.period}")
    if params.kind == OtpKind.HOTP:
        query.append(f"counter={params.counter}")
    return f"otpauth://{params.kind.name.lower()}/{label}?{'&'.join(query)}"

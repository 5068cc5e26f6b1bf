"""The key's one-pass encoders give exactly what the general message encoder gives."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from keybridge.errors import MessageError
from keybridge.protocol.commands import BODIES, Body
from keybridge.protocol.constants import Command, Status
from keybridge.protocol.messages import (
    Response,
    decode_fields,
    encode_fields,
    encode_message,
    encode_response,
)

BODY_TYPES = sorted({cls for pair in BODIES.values() for cls in pair}, key=lambda c: c.__name__)


def _outcome(encode: object) -> bytes | str:
    try:
        return encode()  # type: ignore[operator, no-any-return]
    except (MessageError, OverflowError) as exc:
        return f"{type(exc).__name__}: {exc}"


# Every body class, with values from its annotations (out-of-range integers included).
any_body = st.one_of([st.builds(cls) for cls in BODY_TYPES])


@given(any_body)
def test_to_bytes_equals_encoding_the_fields(body: Body) -> None:
    assert _outcome(body.to_bytes) == _outcome(lambda: encode_fields(body.to_fields()))


@given(
    st.integers(-2, 0x10001),
    st.sampled_from(list(Command)),
    st.sampled_from(list(Status)),
    any_body,
)
def test_encode_response_equals_encode_message(
    seq: int, command: Command, status: Status, body: Body
) -> None:
    try:
        fields = body.to_bytes()
    except (MessageError, OverflowError):
        return  # covered above
    expected = _outcome(
        lambda: encode_message(Response(seq, command, status, decode_fields(fields)))
    )
    assert _outcome(lambda: encode_response(seq, command, status, fields)) == expected

"""Session values to and from the agent protocol's JSON, both ends.

The results (:mod:`keybridge.session.results`) load without the session stack, so the CLI's
agent path stays light; a credential (with its secret: the socket is this user's only, as
ssh-add's keys to ssh-agent) is decoded only in the agent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from keybridge.agent.wire import AgentProtocolError
from keybridge.otp.codes import Algorithm, OtpKind
from keybridge.session.results import Code, CredentialInfo, KeyInfo, Typed

if TYPE_CHECKING:
    from keybridge.otp.credential import Credential

__all__ = [
    "code_from_json",
    "credential_from_json",
    "credential_to_json",
    "entries_from_json",
    "key_info_from_json",
    "typed_from_json",
]


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise AgentProtocolError(f"the agent sent a malformed {what}")
    return value


def key_info_from_json(value: Any) -> KeyInfo:
    fields = _object(value, "key info")
    try:
        return KeyInfo(**{**fields, "layouts": tuple(fields["layouts"])})
    except (KeyError, TypeError) as exc:
        raise AgentProtocolError(f"the agent sent a malformed key info: {exc}") from None


def entries_from_json(value: Any) -> list[CredentialInfo]:
    if not isinstance(value, list):
        raise AgentProtocolError("the agent sent a malformed credential list")
    try:
        return [
            CredentialInfo(
                **{
                    **_object(entry, "credential"),
                    "kind": OtpKind[entry["kind"]],
                    "algorithm": Algorithm[entry["algorithm"]],
                }
            )
            for entry in value
        ]
    except (KeyError, TypeError) as exc:
        raise AgentProtocolError(f"the agent sent a malformed credential list: {exc}") from None


def code_from_json(value: Any) -> Code:
    try:
        return Code(**_object(value, "code"))
    except TypeError as exc:
        raise AgentProtocolError(f"the agent sent a malformed code: {exc}") from None


def typed_from_json(value: Any) -> Typed:
    fields = _object(value, "keystrokes")
    try:
        return Typed([bytes.fromhex(r) for r in fields["reports"]], str(fields["layout"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise AgentProtocolError(f"the agent sent malformed keystrokes: {exc}") from None


def credential_to_json(credential: Credential) -> dict[str, Any]:
    return {
        "kind": credential.kind.name,
        "key": credential.key.hex(),
        "account": credential.account,
        "issuer": credential.issuer,
        "algorithm": credential.algorithm.name,
        "digits": credential.digits,
        "period": credential.period,
        "counter": credential.counter,
    }


def credential_from_json(value: Any) -> Credential:
    from keybridge.otp.credential import Credential

    fields = _object(value, "credential")
    try:
        return Credential(
            kind=OtpKind[fields["kind"]],
            key=bytes.fromhex(fields["key"]),
            account=fields["account"],
            issuer=fields["issuer"],
            algorithm=Algorithm[fields["algorithm"]],
            digits=int(fields["digits"]),
            period=int(fields["period"]),
            counter=fields["counter"],
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise AgentProtocolError(f"malformed credential in the request: {exc}") from None

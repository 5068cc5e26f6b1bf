"""HES's pages as keyboard targets: the key types into them, as into the real pages.

:class:`OtpSetupForm` models the verification-code field of "Add OTP App" (Profile);
:class:`LoginForm` models the two steps of the HES sign-in page. Text typed into it (by a
:class:`~keybridge.keyboard.SinkBackend` whose callback is :meth:`LoginForm.type`) fills the
focused field; Enter submits. Tests and the demo use it to check that the keystrokes the key
produces are exactly what HES needs.
"""

from __future__ import annotations

from keybridge.errors import InvalidStateError
from keybridge.hes.model import Hes
from keybridge.hes.types import LoginStatus, LoginStep

__all__ = ["LoginForm", "OtpSetupForm"]


class OtpSetupForm:
    """The "Add OTP App" page of one user: the key is shown, the verification code typed."""

    def __init__(self, hes: Hes, email: str) -> None:
        self._hes = hes
        self.email = email
        self.setup = hes.begin_otp_setup(email)
        """The key and URI the page shows (a reset OTP app shows its new key the same way)."""
        self.field = ""
        self.recovery_codes: list[str] | None = None
        """What "Verify" returned: the codes issued now (``[]`` when kept); None before."""

    def type(self, text: str) -> None:
        """Keystrokes into the verification-code field; a newline presses Enter (Verify)."""
        for char in text:
            if char == "\n":
                self.verify()
            else:
                self.field += char

    def verify(self) -> list[str]:
        """Click "Verify" with what the field holds; raises ``InvalidCodeError`` if wrong."""
        code, self.field = self.field, ""
        self.recovery_codes = self._hes.confirm_otp_setup(self.email, code)
        return self.recovery_codes


class LoginForm:
    """The sign-in page of one browser tab: password step, then the one-time-password step."""

    def __init__(self, hes: Hes) -> None:
        self._hes = hes
        self._token: str | None = None
        self.field = ""
        """Text typed into the focused field and not submitted yet."""
        self.result: LoginStep | None = None

    def sign_in(self, email: str, password: str) -> LoginStep:
        """Submit the first page; with 2FA on, the OTP field gets the focus."""
        step = self._hes.login(email, password)
        self._token = step.token if step.status is LoginStatus.NEEDS_OTP else None
        self.result = step
        return step

    def type(self, text: str) -> None:
        """Keystrokes into the OTP field; a newline presses Enter (submits)."""
        for char in text:
            if char == "\n":
                self.submit_otp()
            else:
                self.field += char

    def submit_otp(self) -> LoginStep:
        """Click "Log in" on the one-time-password step with what the field holds."""
        if self._token is None:
            raise InvalidStateError("the login form is not at the one-time-password step")
        code, self.field = self.field, ""
        self.result = self._hes.login_otp(self._token, code)
        return self.result

    def submit_recovery(self, code: str) -> LoginStep:
        """ "Log in with a recovery code" on the second step."""
        if self._token is None:
            raise InvalidStateError("the login form is not at the one-time-password step")
        self.result = self._hes.login_recovery(self._token, code)
        return self.result

"""``keybridge otp ...`` through click's CliRunner against a simulated key on a pty.

One simulator process (clock pinned, button pressed automatically) serves the whole module;
every test starts with no credential on it. Bad input must exit 2 with one ``Error:`` line and
leave the key as it was.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import segno
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_sim.simulator import Simulator
from firmware_sim.testing.paired import pair_state_file
from keybridge.cli.main import cli
from keybridge.errors import InvalidInputError
from keybridge.hostconfig import HostConfig
from keybridge.otp import Algorithm, hotp, totp
from keybridge.otp.secret import decode_secret

NOW = 1_700_000_015  # the key's pinned clock
HES_KEY = "gezd gnbv gy3t qojq gezd gnbv gy3t qojq"  # as HES displays it
KEY = decode_secret(HES_KEY)
OTHER = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
HES_URI = (
    "otpauth://totp/HES.Web:admin%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
    "&issuer=HES.Web&digits=6"
)


class Cli:
    """Runs ``keybridge --device URL ...`` in this process."""

    def __init__(self, url: str) -> None:
        self.url = url

    def __call__(self, *args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(cli, ["--device", self.url, *args], input=input)

    def ok(self, *args: str, input: str | None = None) -> Result:
        result = self(*args, input=input)
        assert result.exit_code == 0, result.output
        return result

    def json(self, *args: str, input: str | None = None) -> Any:
        return json.loads(self.ok("--json", *args, input=input).stdout)

    def names(self) -> list[str]:
        return [entry["name"] for entry in self.json("otp", "list")]

    def code(self, name: str) -> str:
        code: str = self.json("otp", "code", name)["code"]
        return code


def assert_one_line_error(result: Result, exit_code: int, *words: str) -> str:
    """The command failed with ``exit_code`` and one ``Error:`` line holding ``words``."""
    assert result.exit_code == exit_code, result.output
    assert isinstance(result.exception, SystemExit), result.exception  # no traceback
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    for word in words:
        assert word in errors[0], errors[0]
    return errors[0]


@pytest.fixture(scope="module")
def _key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    base = tmp_path_factory.mktemp("otp-key")
    config_dir = base / "host-config"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KEYBRIDGE_CONFIG_DIR", str(config_dir))
        pair_state_file(base / "key.state", HostConfig.load())
    with Simulator(state=base / "key.state", clock=f"fixed:{NOW}") as sim:
        yield sim.url, config_dir


@pytest.fixture
def kb(_key: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> Cli:
    """The module's key, paired with this host, holding no credential."""
    url, config_dir = _key
    monkeypatch.setenv("KEYBRIDGE_CONFIG_DIR", str(config_dir))
    monkeypatch.delenv("KEYBRIDGE_DEVICE", raising=False)
    kb = Cli(url)
    for name in kb.names():
        kb.ok("otp", "delete", "--force", name)
    return kb


def qr_image(path: Path, text: str) -> Path:
    segno.make(text, error="m").save(path, scale=6, border=4)
    return path


# --- otp add ------------------------------------------------------------------------------


def test_add_hes_grouped_key_then_code_matches_totp(kb: Cli) -> None:
    added = kb("otp", "add", "admin@example.com", "--issuer", "HES.Web", "--secret", HES_KEY)
    assert added.exit_code == 0, added.output
    assert added.stdout == "Stored HES.Web:admin@example.com on the key.\n"
    assert added.stderr == ""  # a 160-bit key draws no warning
    assert kb.names() == ["HES.Web:admin@example.com"]
    assert kb.code("HES.Web:admin@example.com") == totp(KEY, NOW)


def test_add_uri_as_hes_makes_it(kb: Cli) -> None:
    assert kb.json("otp", "add", "hes", "--uri", HES_URI) == {
        "ok": True,
        "name": "hes",
        "stored": True,
    }
    [entry] = kb.json("otp", "list")
    assert entry == {
        "name": "hes",
        "kind": "TOTP",
        "algorithm": "SHA1",
        "digits": 6,
        "period": 30,
        "require_button": False,
        "layout": None,
    }
    assert kb.code("hes") == totp(KEY, NOW)


def test_add_uri_parameters_and_option_overrides(kb: Cli) -> None:
    uri = f"otpauth://totp/Acme:bob?secret={OTHER}&issuer=Acme&algorithm=SHA256&digits=8&period=60"
    kb.ok("otp", "add", "acme", "--uri", uri)
    kb.ok("otp", "add", "acme7", "--uri", uri, "--digits", "7", "--algorithm", "sha1")
    entries = {e["name"]: e for e in kb.json("otp", "list")}
    assert (entries["acme"]["algorithm"], entries["acme"]["digits"]) == ("SHA256", 8)
    assert entries["acme"]["period"] == 60
    assert (entries["acme7"]["algorithm"], entries["acme7"]["digits"]) == ("SHA1", 7)
    key = decode_secret(OTHER)
    assert kb.code("acme") == totp(key, NOW, period=60, digits=8, algorithm=Algorithm.SHA256)
    assert kb.code("acme7") == totp(key, NOW, period=60, digits=7)


def test_add_from_qr_image(kb: Cli, tmp_path: Path) -> None:
    image = qr_image(tmp_path / "enrol.png", HES_URI)
    kb.ok("otp", "add", "from-qr", "--qr", str(image))
    assert kb.code("from-qr") == totp(KEY, NOW)


def test_add_prompts_for_the_secret_without_echo(kb: Cli) -> None:
    result = kb.ok("otp", "add", "prompted", input=HES_KEY + "\n")
    assert "Secret" in result.stderr
    assert HES_KEY not in result.output and "gezd" not in result.output
    assert kb.code("prompted") == totp(KEY, NOW)


def test_add_with_digits_period_algorithm(kb: Cli) -> None:
    kb.ok(
        "otp", "add", "long", "--secret", HES_KEY,
        "--digits", "8", "--period", "60", "--algorithm", "SHA512",
    )  # fmt: skip
    [entry] = kb.json("otp", "list")
    assert (entry["digits"], entry["period"], entry["algorithm"]) == (8, 60, "SHA512")
    assert kb.code("long") == totp(KEY, NOW, period=60, digits=8, algorithm=Algorithm.SHA512)


def test_add_hotp_with_counter_advances(kb: Cli) -> None:
    kb.ok("otp", "add", "counter", "--hotp", "--counter", "5", "--secret", HES_KEY)
    assert kb.json("otp", "list")[0]["kind"] == "HOTP"
    first = kb.json("otp", "code", "counter")
    assert (first["code"], first["counter"]) == (hotp(KEY, 5), 5)
    assert kb.code("counter") == hotp(KEY, 6)
    text = kb.ok("otp", "code", "counter").stdout
    assert text == hotp(KEY, 7) + "\n"  # HOTP codes have no validity time


def test_add_touch_and_layout_are_stored(kb: Cli) -> None:
    kb.ok("otp", "add", "guarded", "--touch", "--layout", "gb", "--secret", HES_KEY)
    [entry] = kb.json("otp", "list")
    assert (entry["require_button"], entry["layout"]) == (True, "uk")
    assert "touch" in kb.ok("otp", "list").stdout
    assert kb.code("guarded") == totp(KEY, NOW)  # the button is pressed by the simulator


def test_add_existing_name_needs_force(kb: Cli) -> None:
    kb.ok("otp", "add", "site", "--secret", OTHER)
    before = kb.code("site")
    refused = kb("otp", "add", "site", "--secret", HES_KEY)
    assert_one_line_error(refused, 1, "'site'", "--force")
    assert kb.code("site") == before
    kb.ok("otp", "add", "site", "--secret", HES_KEY, "--force")
    assert kb.names() == ["site"]
    assert kb.code("site") == totp(KEY, NOW)


def test_short_key_is_stored_with_a_one_line_warning(kb: Cli) -> None:
    result = kb.ok("otp", "add", "short", "--secret", "JBSWY3DPEHPK3PXP")
    assert result.stderr == "Warning: the key has only 80 bits: RFC 4226 asks for at least 128\n"
    assert kb.names() == ["short"]


BAD_ADD = [
    pytest.param(["--secret", "gezd gnbv gy3t qojq gezd gnbv gy3t qoj1"], "'1'", id="digit-1"),
    pytest.param(["--secret", "gezd gnbv gy3t qojq gezd gnbv gy3t qoj"], "31", id="31-chars"),
    pytest.param(["--secret", "abcd"], "too short", id="too-short"),
    pytest.param(["--secret", "A" * 104], "104", id="too-long"),
    pytest.param(["--secret", "gezd!gnbv gy3t qojq gezd gnbv gy3t qojq"], "'!'", id="symbol"),
    pytest.param(["--secret", ""], "", id="empty-secret"),
    pytest.param(["--uri", "https://example.com"], "otpauth://", id="uri-scheme"),
    pytest.param(["--uri", "otpauth://totp/a?issuer=x"], "secret", id="uri-no-secret"),
    pytest.param(["--uri", f"otpauth://hotp/a?secret={OTHER}"], "counter", id="uri-hotp-counter"),
    pytest.param(["--uri", f"otpauth://totp/a?secret={OTHER}&digits=9"], "digits", id="uri-dig"),
    pytest.param(["--uri", f"otpauth://totp/a?secret={OTHER}&period=5"], "period", id="uri-per"),
    pytest.param(["--uri", f"otpauth://totp/a?secret={OTHER}&algorithm=MD5"], "MD5", id="uri-alg"),
    pytest.param(["--uri", f"otpauth://totp/A:b?secret={OTHER}&issuer=B"], "issuer", id="uri-iss"),
    pytest.param(["--uri", f"otpauth://xotp/a?secret={OTHER}"], "xotp", id="uri-type"),
    pytest.param(["--secret", OTHER, "--period", "10"], "--period", id="period-low"),
    pytest.param(["--secret", OTHER, "--period", "121"], "--period", id="period-high"),
    pytest.param(["--secret", OTHER, "--period", "thirty"], "--period", id="period-nan"),
    pytest.param(["--secret", OTHER, "--digits", "5"], "--digits", id="digits-5"),
    pytest.param(["--secret", OTHER, "--digits", "9"], "--digits", id="digits-9"),
    pytest.param(["--secret", OTHER, "--algorithm", "MD5"], "--algorithm", id="algorithm"),
    pytest.param(["--secret", OTHER, "--layout", "dvorak"], "dvorak", id="layout"),
    pytest.param(["--secret", OTHER, "--layout", " "], "layout", id="layout-blank"),
    pytest.param(["--secret", OTHER, "--counter", "3"], "--hotp", id="counter-without-hotp"),
    pytest.param(["--secret", OTHER, "--hotp", "--counter", "-1"], "--counter", id="counter-neg"),
    pytest.param(["--uri", HES_URI, "--counter", "3"], "--counter", id="counter-totp-uri"),
    pytest.param(["--secret", OTHER, "--hotp", "--period", "60"], "--period", id="period-hotp"),
    pytest.param(["--secret", OTHER, "--uri", HES_URI], "one of", id="two-sources"),
    pytest.param(["--qr", "missing.png"], "missing.png", id="qr-missing"),
]


@pytest.mark.parametrize(("options", "named"), BAD_ADD)
def test_bad_add_input_exits_2_and_stores_nothing(
    kb: Cli, options: list[str], named: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # "missing.png" is looked up here
    assert_one_line_error(kb("otp", "add", "bad", *options), 2, named)
    assert kb.names() == []


@pytest.mark.parametrize(
    "name", [pytest.param("", id="empty"), pytest.param("é" * 33, id="66-bytes")]
)
def test_bad_name_exits_2_and_stores_nothing(kb: Cli, name: str) -> None:
    assert_one_line_error(kb("otp", "add", name, "--secret", OTHER), 2, "name")
    assert kb.names() == []


def test_longest_name_is_stored(kb: Cli) -> None:
    name = "é" * 32  # 64 bytes in UTF-8
    kb.ok("otp", "add", name, "--secret", OTHER)
    assert kb.names() == [name]


def test_bad_qr_images_exit_2_and_store_nothing(kb: Cli, tmp_path: Path) -> None:
    not_image = tmp_path / "notes.png"
    not_image.write_text("not a picture")
    blank = tmp_path / "blank.png"
    segno.make("x").save(blank, scale=1, dark="white")  # an image without a readable code
    other = qr_image(tmp_path / "url.png", "https://example.com/login")
    two = tmp_path / "two.png"
    _side_by_side(
        qr_image(tmp_path / "a.png", HES_URI),
        qr_image(tmp_path / "b.png", f"otpauth://totp/x?secret={OTHER}"),
        two,
    )
    assert_one_line_error(kb("otp", "add", "q", "--qr", str(not_image)), 2, "not an image")
    assert_one_line_error(kb("otp", "add", "q", "--qr", str(blank)), 2, "no otpauth://")
    assert_one_line_error(kb("otp", "add", "q", "--qr", str(other)), 2, "https://example.com")
    assert_one_line_error(kb("otp", "add", "q", "--qr", str(two)), 2, "2 OTP QR codes")
    assert kb.names() == []


def _side_by_side(left: Path, right: Path, out: Path) -> None:
    from PIL import Image

    with Image.open(left) as a, Image.open(right) as b:
        canvas = Image.new("RGB", (a.width + b.width, max(a.height, b.height)), "white")
        canvas.paste(a.convert("RGB"), (0, 0))
        canvas.paste(b.convert("RGB"), (a.width, 0))
        canvas.save(out)


def test_empty_prompt_answer_aborts_and_stores_nothing(kb: Cli) -> None:
    result = kb("otp", "add", "x", input="")
    assert result.exit_code == 1
    assert result.stderr.endswith(
        "Error: aborted: the prompt got no answer (end of input); answer it, or see --help\n"
    )
    assert kb.names() == []


_BASE32ISH = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ234567 -=018!")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_BASE32ISH)
def test_any_secret_text_is_stored_or_exits_2_in_one_line(text: str) -> None:
    # No key at this URL: a secret the parser accepts gets as far as connecting (exit 3).
    result = CliRunner().invoke(
        cli, ["--device", "/nonexistent/key", "otp", "add", "n", "--secret", text]
    )
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            decode_secret(text)
    except InvalidInputError:
        assert_one_line_error(result, 2)
    else:
        assert_one_line_error(result, 3, "/nonexistent/key")


# --- list, code, type, delete, rename -------------------------------------------------------


def test_list_text_and_json(kb: Cli) -> None:
    assert kb.ok("otp", "list").stdout == "No credentials on the key.\n"
    assert kb.json("otp", "list") == []
    kb.ok("otp", "add", "b", "--secret", HES_KEY)
    kb.ok("otp", "add", "a", "--hotp", "--digits", "8", "--secret", HES_KEY)
    lines = kb.ok("otp", "list").stdout.splitlines()
    assert sorted(lines) == ["a  (HOTP, 8 digits)", "b  (TOTP, 6 digits)"]
    assert HES_KEY.replace(" ", "").upper() not in kb.ok("--json", "otp", "list").stdout


def test_code_text_shows_the_code(kb: Cli) -> None:
    kb.ok("otp", "add", "site", "--secret", HES_KEY)
    left = (NOW // 30 + 1) * 30 - NOW  # by the key's pinned clock, not this host's
    text = kb.ok("otp", "code", "site").stdout
    assert text in (f"{totp(KEY, NOW)}  (valid for {n} s)\n" for n in (left - 1, left))
    code = kb.json("otp", "code", "site")
    assert code.pop("valid_for") in (left - 1, left)
    assert code == {
        "ok": True,
        "name": "site",
        "code": totp(KEY, NOW),
        "valid_until": (NOW // 30 + 1) * 30,
        "counter": None,
    }


@pytest.mark.parametrize("layout", ["us", "fr", "de", "uk"])
def test_type_to_stdout_with_enter(kb: Cli, layout: str) -> None:
    kb.ok("otp", "add", "site", "--secret", HES_KEY)
    typed = kb.ok("otp", "type", "site", "--to", "stdout", "--enter", "--layout", layout)
    assert typed.stdout == totp(KEY, NOW) + "\n"
    result = kb.json("otp", "type", "site", "--to", "stdout", "--layout", layout)
    assert result["text"] == totp(KEY, NOW) and result["layout"] == layout


def test_type_uses_the_credentials_layout(kb: Cli) -> None:
    kb.ok("otp", "add", "site", "--layout", "fr", "--secret", HES_KEY)
    result = kb.json("otp", "type", "site", "--to", "stdout", "--enter")
    assert (result["layout"], result["text"]) == ("fr", totp(KEY, NOW) + "\n")
    assert kb.json("otp", "type", "site", "--to", "stdout", "--layout", "de")["layout"] == "de"
    # AZERTY types digits with Shift: the key's reports differ, the text does not.
    assert result["keystrokes"] >= 7


def test_type_errors(kb: Cli) -> None:
    kb.ok("otp", "add", "site", "--secret", HES_KEY)
    bad_layout = kb("otp", "type", "site", "--to", "stdout", "--layout", "azerty")
    assert_one_line_error(bad_layout, 2, "azerty")
    assert bad_layout.stdout == ""  # nothing typed
    assert_one_line_error(kb("otp", "type", "site", "--to", "printer"), 2, "--to")
    assert_one_line_error(kb("otp", "type", "nope", "--to", "stdout"), 1, "nope")


def test_delete(kb: Cli) -> None:
    kb.ok("otp", "add", "a", "--secret", HES_KEY)
    kb.ok("otp", "add", "b", "--secret", HES_KEY)
    assert kb.ok("otp", "delete", "--force", "a").stdout == "Deleted a.\n"
    assert kb.names() == ["b"]
    assert kb.json("otp", "delete", "-f", "b") == {"ok": True, "name": "b", "deleted": True}
    assert_one_line_error(kb("otp", "delete", "-f", "b"), 1, "no credential", "'b'")
    assert kb.names() == []


def test_rename(kb: Cli) -> None:
    kb.ok("otp", "add", "old", "--secret", HES_KEY)
    kb.ok("otp", "add", "taken", "--secret", OTHER)
    assert kb.ok("otp", "rename", "old", "new").stdout == "Renamed old to new.\n"
    assert sorted(kb.names()) == ["new", "taken"]
    assert kb.code("new") == totp(KEY, NOW)
    assert kb.json("otp", "rename", "new", "newer") == {
        "ok": True,
        "name": "newer",
        "renamed_from": "new",
    }
    assert_one_line_error(kb("otp", "rename", "gone", "x"), 1, "'gone'")
    assert_one_line_error(kb("otp", "rename", "newer", "taken"), 1, "exists")
    assert_one_line_error(kb("otp", "rename", "newer", ""), 2, "empty")
    assert_one_line_error(kb("otp", "rename", "newer", "x" * 65), 2, "64")
    assert sorted(kb.names()) == ["newer", "taken"]


def test_unknown_credential_exits_1(kb: Cli) -> None:
    assert_one_line_error(kb("otp", "code", "nope"), 1, "no credential", "otp list")


def test_errors_under_json_are_a_json_object_too(kb: Cli) -> None:
    result = kb("--json", "otp", "code", "nope")
    line = assert_one_line_error(result, 1, "no credential")
    assert json.loads(result.stdout) == {
        "ok": False,
        "error": {
            "type": "NotFoundError",
            "message": line.removeprefix("Error: "),
            "status": "NOT_FOUND",
            "exit_code": 1,
        },
    }
    bad = kb("--json", "otp", "add", "x", "--secret", "not base32!")
    assert json.loads(bad.stdout)["error"]["exit_code"] == bad.exit_code == 2


def test_json_on_every_otp_command(kb: Cli) -> None:
    outputs = [
        kb.json("otp", "add", "j", "--secret", HES_KEY),
        kb.json("otp", "list"),
        kb.json("otp", "code", "j"),
        kb.json("otp", "type", "j", "--to", "stdout", "--enter"),
        kb.json("otp", "rename", "j", "k"),
        kb.json("otp", "delete", "--force", "k"),
    ]
    assert [type(o) for o in outputs] == [dict, list, dict, dict, dict, dict]


def test_button_denied_exits_1(make_simulator: Any) -> None:
    sim = make_simulator(clock=f"fixed:{NOW}", button="deny")
    kb = Cli(sim.url)
    kb.ok("otp", "add", "guarded", "--touch", "--secret", HES_KEY)
    kb.ok("otp", "add", "open", "--secret", HES_KEY)
    denied = kb("otp", "code", "guarded")
    assert_one_line_error(denied, 1, "declined")
    assert denied.stdout == ""
    assert_one_line_error(kb("otp", "type", "guarded", "--to", "stdout"), 1, "declined")
    assert kb.code("open") == totp(KEY, NOW)  # no press needed


def test_waiting_for_the_button_shows_a_prompt(make_simulator: Any) -> None:
    sim = make_simulator(clock=f"fixed:{NOW}", button="manual")
    kb = Cli(sim.url)
    kb.ok("otp", "add", "guarded", "--touch", "--secret", HES_KEY)
    done = threading.Event()

    def press_until_done() -> None:  # a press before the key waits for one is ignored
        while not done.wait(0.2):
            sim.press()

    presser = threading.Thread(target=press_until_done)
    presser.start()
    try:
        result = kb("otp", "code", "guarded")
    finally:
        done.set()
        presser.join()
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(totp(KEY, NOW))
    assert "Press the button on your key (" in result.stderr and " s left)" in result.stderr


def test_type_to_os_without_a_desktop_says_what_to_do(
    kb: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    kb.ok("otp", "add", "site", "--secret", HES_KEY)
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setitem(sys.modules, "evdev", None)  # not installed, whatever this host has
    result = kb("otp", "type", "site", "--delay", "0")
    error = assert_one_line_error(result, 1, "no X display", "python-evdev", "--to stdout")
    assert "Typed" not in result.stdout
    assert error.count("Error:") == 1


def test_type_delay_waits_then_types(kb: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    kb.ok("otp", "add", "site", "--secret", HES_KEY)
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    typed = kb.ok("otp", "type", "site", "--to", "stdout", "--delay", "2.5")
    assert (slept, typed.stdout) == ([2.5], totp(KEY, NOW))
    assert_one_line_error(kb("otp", "type", "site", "--delay", "-1"), 2, "--delay")

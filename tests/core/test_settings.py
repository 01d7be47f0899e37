"""Settings: typed values from strings or objects, one-line errors, vetoes, scrypt passwords."""

from __future__ import annotations

import logging

import pytest

from otrace_server.core.errors import OTraceError
from otrace_server.core.settings import PARAMS, Settings, check_password, hash_password


def test_defaults_match_otrace():
    s = Settings()
    assert (s.safe_mode, s.trace_active, s.max_recent, s.assert_context, s.deep_copy) == (True, False, 10, 0, False)
    assert s.repeat_interval == 0.2 and s.pickle_file == "" and s.password == ""
    assert s.names() == sorted(PARAMS)


@pytest.mark.parametrize("name, text, value", [
    ("max_recent", "20", 20), ("max_recent", " 3 ", 3), ("safe_mode", "False", False), ("safe_mode", "on", True),
    ("trace_active", "1", True), ("repeat_interval", "1", 1.0), ("repeat_interval", "0.5", 0.5),
    ("pickle_file", "'/tmp/x db'", "/tmp/x db"), ("editor", "emacs -nw", "emacs -nw"),
    ("log_level", "debug", "DEBUG"), ("log_level", "10", "DEBUG"), ("log_level", " 40 ", "ERROR"),
])
def test_strings_are_parsed_to_the_parameter_type(name, text, value):
    s = Settings()
    assert s.set(name, text) == value
    assert s.get(name) == value and type(getattr(s, name)) is type(value)


def test_python_objects_are_accepted_when_of_the_right_type():
    s = Settings()
    assert s.set("log_level", 20) == "INFO"     # otrace's numeric levels
    assert s.set("max_recent", 5) == 5
    assert s.set("hold_timeout", 2) == 2.0 and isinstance(s.hold_timeout, float)
    s.deep_copy = True                      # attribute assignment validates too
    assert s.deep_copy is True


@pytest.mark.parametrize("name, value, message", [
    ("max_recent", "ten", "max_recent: expected int"), ("max_recent", "0", "max_recent: must be > 0"),
    ("max_recent", True, "expected int"), ("max_recent", 2.5, "expected int"),
    ("safe_mode", "maybe", "expected True or False"), ("safe_mode", 1, "expected True or False"),
    ("assert_context", "-1", "must be >= 0"), ("repeat_interval", "0", "must be > 0"),
    ("log_level", "LOUD", "must be one of"), ("log_level", "15", "must be one of"),
    ("log_level", True, "expected a string"), ("pickle_file", 3, "expected a string"),
    ("no_such", "1", "unknown parameter 'no_such'"),
    ("web_timeout", "1e308", "web_timeout: must be at most 1000000 \\(seconds\\)"),
    ("hold_timeout", "1000001", "must be at most 1000000"), ("shell_timeout", "1e9", "must be at most 1000000"),
    ("repeat_interval", "1e300", "must be at most"), ("auto_lock", "10000000", "must be at most"),
])
def test_bad_values_raise_one_line_errors_and_change_nothing(name, value, message):
    s = Settings()
    before = {n: s.get(n) for n in s.names()}
    with pytest.raises(OTraceError, match=message) as info:
        s.set(name, value)
    assert "\n" not in str(info.value)
    assert {n: s.get(n) for n in s.names()} == before


def test_on_change_runs_before_storing_and_can_veto():
    s = Settings()
    seen = []

    def callback(name, value):
        seen.append((name, value, s.get(name)))     # the old value is still stored
        if value == 13:
            raise OTraceError("unlucky")

    s.on_change(callback)
    s.set("max_recent", "12")
    assert seen == [("max_recent", 12, 10)]
    with pytest.raises(OTraceError, match="unlucky"):
        s.set("max_recent", 13)
    assert s.max_recent == 12


def test_vetoed_log_level_does_not_touch_the_logger():
    s = Settings()
    logger = logging.getLogger("otrace")
    level = logger.level
    s.on_change(lambda name, value: (_ for _ in ()).throw(OTraceError("no")) if name == "log_level" else None)
    with pytest.raises(OTraceError):
        s.set("log_level", "DEBUG")
    assert logger.level == level and s.log_level == "WARNING"


def test_log_level_is_applied_to_the_otrace_logger():
    s = Settings()
    logger = logging.getLogger("otrace")
    level = logger.level
    try:
        s.set("log_level", "error")
        assert logger.level == logging.ERROR
    finally:
        logger.setLevel(level)


def test_password_is_stored_as_an_scrypt_hash():
    s = Settings()
    s.set("password", "sesame")
    assert s.password.startswith("scrypt$") and "sesame" not in s.password
    assert check_password("sesame", s.password) and not check_password("Sesame", s.password)
    assert s.display("password") == "password = (set)" and "scrypt" not in s.display("password")
    assert hash_password("sesame") != hash_password("sesame")      # salted
    s.set("password", "")
    assert s.password == "" and s.display("password") == "password = (none)"
    assert not check_password("", "") and not check_password("x", "garbage")


def test_help_and_display():
    s = Settings()
    assert s.help("max_recent").startswith("max_recent (int, default 10): ")
    assert s.display("max_recent") == "max_recent = 10"
    with pytest.raises(OTraceError, match="unknown parameter"):
        s.help("nope")


def test_after_change_sees_only_stored_values_and_cannot_undo_them(caplog):
    s = Settings()
    seen = []
    s.on_change(lambda name, value: (_ for _ in ()).throw(OTraceError("no")) if value == 13 else None)
    s.after_change(lambda name, value: seen.append((name, value, s.get(name))))   # already stored
    s.after_change(lambda name, value: 1 / 0)                                      # a broken observer
    s.set("max_recent", 12)
    with pytest.raises(OTraceError):
        s.set("max_recent", 13)                  # vetoed by on_change: no after_change call
    assert seen == [("max_recent", 12, 12)] and s.max_recent == 12
    assert "settings observer failed" in caplog.text

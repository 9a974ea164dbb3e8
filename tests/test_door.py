"""The door's pure pieces: keys, client secrets, origins, rate limits, redaction, exposure."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from zenglow.ops.redact import RedactingFilter, public, redact
from zenglow.serve import check_exposure
from zenglow.settings import LimitSettings, SettingsError, load_settings
from zenglow.transports.door.keys import AuthError, ClientSecrets, KeyRing, key_id, read_key_file
from zenglow.transports.door.limits import Counters, EventGate, RateLimited, TokenBucket
from zenglow.transports.door.origins import OriginPolicy, normalize

KEY = "k" * 24


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_keys_are_known_by_their_id_never_their_value() -> None:
    ring = KeyRing([KEY, "other-key-0123456789"], metrics_key="metrics-key-0123456789")
    assert ring.identify(KEY) == key_id(KEY) and KEY not in key_id(KEY)
    assert ring.identify(KEY + "x") is None and ring.identify("") is None
    assert ring.is_metrics_key("metrics-key-0123456789") and not ring.is_metrics_key(KEY)
    assert not KeyRing([]).enabled and ring.enabled


def test_weak_keys_are_refused_with_the_key_named_by_place(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="at least 16 characters"):
        load_settings(None, auth={"api_keys": ["short"]})
    file = tmp_path / "keys"
    file.write_text(f"# kiosks\n{KEY}\n\n  other-key-0123456789  # the office\n")
    assert read_key_file(file) == [KEY, "other-key-0123456789"]
    file.write_text("tooshort\n")
    with pytest.raises(ValueError, match="line 1"):
        read_key_file(file)
    with pytest.raises(ValueError, match="cannot read"):
        read_key_file(tmp_path / "absent")


def test_client_secrets_open_once_and_expire() -> None:
    clock = Clock()
    secrets = ClientSecrets(per_owner=2, clock=clock)
    a = secrets.issue("key_a", 60, {"instructions": "be brief"})
    assert a.value.startswith("ek_") and a.expires_at == 1060
    assert secrets.check(a.value) is a and secrets.redeem(a.value).session == {
        "instructions": "be brief"
    }
    with pytest.raises(AuthError, match="already used"):
        secrets.redeem(a.value)
    b = secrets.issue("key_a", 60, None)
    clock.t += 61
    with pytest.raises(AuthError) as err:
        secrets.check(b.value)
    assert err.value.code == "client_secret_expired" and err.value.status == 401


def test_one_key_cannot_hoard_client_secrets() -> None:
    clock = Clock()
    secrets = ClientSecrets(per_owner=2, clock=clock)
    secrets.issue("key_a", 60, None)
    secrets.issue("key_a", 60, None)
    with pytest.raises(AuthError) as err:
        secrets.issue("key_a", 60, None)
    assert err.value.status == 429
    secrets.issue("key_b", 60, None)  # another key is not affected
    clock.t += 61  # expired ones do not count
    secrets.issue("key_a", 60, None)
    assert len(secrets) == 1


@pytest.mark.parametrize(
    ("origin", "host", "allowed"),
    [
        (None, "evil.example", True),  # not a browser
        ("http://localhost:5173", "192.168.1.5:8000", True),
        ("http://127.0.0.1:8000", "127.0.0.1:8000", True),
        ("http://[::1]:9000", "x", True),
        ("http://192.168.1.5:8000", "192.168.1.5:8000", True),  # the server's own origin
        ("https://zenglow.example", "zenglow.example", True),  # default port on both
        ("https://zenglow.example:443", "zenglow.example", True),
        ("http://evil.example", "192.168.1.5:8000", False),
        ("http://192.168.1.5:8001", "192.168.1.5:8000", False),  # another port
        ("https://192.168.1.5:8000", "192.168.1.5:8000", True),
        ("null", "127.0.0.1:8000", False),  # a file or a sandboxed frame
        ("garbage", "127.0.0.1:8000", False),
        ("https://kiosk.example.com", "10.0.0.2:8000", True),  # configured
    ],
)
def test_origins(origin: str | None, host: str, allowed: bool) -> None:
    assert OriginPolicy(["https://kiosk.example.com/"]).allows(origin, host) is allowed


def test_any_origin_on_purpose_and_the_host_guard() -> None:
    assert OriginPolicy(["*"]).allows("http://anywhere.example", "x")
    policy = OriginPolicy(["https://kiosk.example.com"])
    for host in ("127.0.0.1:8000", "localhost", "192.168.1.5", "[::1]:8000", "kiosk",
                 "zenglow.local:8000", "kiosk.example.com"):  # fmt: skip
        assert policy.host_allowed(host), host
    for host in ("evil.example:8000", "attacker.example.org"):  # DNS rebinding
        assert not policy.host_allowed(host), host
    assert normalize("HTTP://Example.COM:80/") == "http://example.com"
    assert normalize("ftp://x") is None


def test_token_bucket_refills_with_time_and_keeps_its_burst() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=2, burst=4, clock=clock)
    assert all(bucket.take() for _ in range(4)) and not bucket.take()
    clock.t += 0.5
    assert bucket.take() and not bucket.take()
    clock.t += 100
    assert sum(bucket.take() for _ in range(10)) == 4
    assert not bucket.take(5)  # more than the burst never fits


def test_event_gate_meters_events_audio_and_commits_and_reports_sparingly() -> None:
    clock = Clock()
    limits = LimitSettings(events_per_s=10, audio_speedup=2, audio_burst_s=4, commits_per_s=1)
    gate = EventGate(limits, clock)
    for _ in range(20):
        gate.arrived()
    with pytest.raises(RateLimited) as first:
        gate.arrived()
    assert first.value.report and "10 client events a second" in first.value.message
    with pytest.raises(RateLimited) as second:
        gate.arrived()
    assert not second.value.report  # within a second of the last report: only counted
    clock.t += 1.5
    gate.arrived()
    for _ in range(14):
        gate.arrived()
    with pytest.raises(RateLimited) as third:
        gate.arrived()
    assert third.value.report and "more dropped" in third.value.message

    clock.t += 100
    gate = EventGate(limits, clock)
    gate.check(audio_s=4.0)  # the burst
    with pytest.raises(RateLimited, match="2x real time"):
        gate.check(audio_s=0.5)
    clock.t += 1.0  # two seconds of audio may come in one second
    gate.check(audio_s=2.0)
    gate.check(commit=True)
    gate.check(commit=True)
    with pytest.raises(RateLimited, match="commits"):
        gate.check(commit=True)
    assert gate.refused == 2


def test_counters_cap_each_client_alone() -> None:
    held = Counters(2)
    assert held.acquire("a") and held.acquire("a") and not held.acquire("a")
    assert held.acquire("b")
    held.release("a")
    assert held.acquire("a")
    held.release("b")
    assert "b" not in held.held


def test_credentials_and_hosts_are_masked() -> None:
    text = "cannot reach http://admin:hunter2@gpu1:11434/api: down (ollama@gpu1:11434)"
    assert "hunter2" not in redact(text) and "admin" not in redact(text)
    assert "gpu1" in redact(text)  # the log keeps the host
    shown = public(text)
    assert "gpu1" not in shown and "hunter2" not in shown and shown.startswith("cannot reach")
    assert redact("Authorization: Bearer sk-live-123") == "Authorization: Bearer ***"
    record = logging.LogRecord("x", logging.INFO, "f", 1, "calling %s", ("http://u:p@h/",), None)
    RedactingFilter().filter(record)
    assert record.getMessage() == "calling http://***@h/"


def test_endpoint_names_carry_no_credentials() -> None:
    settings = load_settings(
        None,
        personas={
            "jarvis": {
                "display_name": "Jarvis",
                "system_prompt": "hi",
                "chat": {
                    "endpoints": [
                        {"kind": "openai", "model": "m", "url": "http://user:pw@gpu0:8001/v1"}
                    ]
                },
            }
        },
    )
    assert settings.personas["jarvis"].chat.endpoints[0].name == "openai@gpu0:8001"


def test_an_open_server_on_the_network_needs_a_key_or_a_decision(
    caplog: pytest.LogCaptureFixture,
) -> None:
    open_lan = load_settings(None, server={"host": "0.0.0.0"})
    with pytest.raises(SettingsError, match=r"refusing to serve 0\.0\.0\.0 with no API key"):
        check_exposure(open_lan, has_keys=False)
    check_exposure(open_lan, has_keys=True)
    check_exposure(load_settings(None), has_keys=False)  # loopback
    on_purpose = load_settings(None, server={"host": "0.0.0.0"}, auth={"allow_anonymous": True})
    with caplog.at_level(logging.WARNING):
        check_exposure(on_purpose, has_keys=False)
    assert "NO API KEY" in caplog.text

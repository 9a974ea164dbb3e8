"""Settings: defaults < TOML file < ZENGLOW_* environment, and the start-up checks."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from zenglow.settings import ChatSettings, Settings, SettingsError, check_environment, load_settings
from zenglow.settings.voices import OPENAI_VOICES, UnknownVoice, session_voice


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts from an environment without ZENGLOW_* variables."""
    for name in list(os.environ):
        if name.upper().startswith("ZENGLOW_"):
            monkeypatch.delenv(name)


def toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "zenglow.toml"
    path.write_text(text, encoding="utf-8")
    return path


# --- sources and precedence -------------------------------------------------------------


def test_defaults_load() -> None:
    s = load_settings()
    assert s.server.host == "127.0.0.1" and s.server.port == 8000
    assert s.stt.device == "cpu" and s.stt.model is None and s.stt.beam_size == 1
    assert s.llm.model is None
    assert sorted(s.personas) == ["jarvis", "leonardo"]
    assert s.default_persona == "jarvis"
    assert s.persona(None).display_name == "Jarvis"
    assert s.persona("leonardo").chat.max_tokens == 160
    assert s.allow_device_fallback is False


def test_file_overrides_defaults_and_keeps_the_rest(tmp_path: Path) -> None:
    path = toml(
        tmp_path,
        """
default_persona = "leonardo"
[server]
port = 9001
[stt]
beam_size = 2
[personas.leonardo.chat]
backend = "ollama"
model = "mistral:7b-instruct-q5_k_m"
[personas.ada]
display_name = "Ada"
system_prompt = "You are Ada."
""",
    )
    s = load_settings(path)
    assert s.server.port == 9001 and s.server.host == "127.0.0.1"
    assert s.stt.beam_size == 2 and s.stt.compute_type == "int8"
    assert s.default_persona == "leonardo"
    leo = s.persona("leonardo")
    assert leo.chat.backend == "ollama" and leo.chat.model == "mistral:7b-instruct-q5_k_m"
    [endpoint] = leo.chat.pool()  # the single-endpoint keys form a pool of one
    assert (endpoint.kind, endpoint.model) == ("ollama", "mistral:7b-instruct-q5_k_m")
    assert endpoint.url == "http://127.0.0.1:11434" and endpoint.name == "ollama@127.0.0.1:11434"
    assert (endpoint.max_in_flight, endpoint.first_token_timeout_s) == (2, 20.0)
    # one key of a built-in persona changed; its other keys keep their defaults
    assert leo.display_name == "Leonardo" and leo.voice.speed == 0.9
    assert leo.chat.temperature == 0.5
    assert sorted(s.personas) == ["ada", "jarvis", "leonardo"]
    assert s.persona("ada").chat.backend == "embedded"
    [embedded] = s.persona("ada").chat.pool()
    assert (embedded.kind, embedded.name, embedded.max_in_flight) == ("embedded", "embedded", 1)


def test_config_path_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZENGLOW_CONFIG", str(toml(tmp_path, "[vad]\nsilence_ms = 800\n")))
    assert load_settings().vad.silence_ms == 800


def test_environment_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = toml(tmp_path, '[stt]\nbeam_size = 2\nlanguage = "de"\n[server]\nport = 9001\n')
    monkeypatch.setenv("ZENGLOW_STT__BEAM_SIZE", "3")
    monkeypatch.setenv("ZENGLOW_SERVER__HOST", "0.0.0.0")
    monkeypatch.setenv("ZENGLOW_DEFAULT_PERSONA", "leonardo")
    s = load_settings(path)
    assert s.stt.beam_size == 3  # env beats file
    assert s.stt.language == "de"  # file value the env left alone
    assert s.server.host == "0.0.0.0" and s.server.port == 9001
    assert s.default_persona == "leonardo"


def test_environment_changes_one_key_of_a_persona(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZENGLOW_PERSONAS__JARVIS__CHAT__BACKEND", "ollama")
    monkeypatch.setenv("ZENGLOW_PERSONAS__JARVIS__CHAT__MODEL", "phi3:3.8b-mini-4k-instruct-q4_0")
    s = load_settings()
    jarvis = s.persona("jarvis")
    assert jarvis.chat.backend == "ollama" and jarvis.chat.model.startswith("phi3")
    assert jarvis.display_name == "Jarvis" and jarvis.chat.max_tokens == 80
    assert s.persona("leonardo").chat.backend == "embedded"


def test_keyword_overrides_merge_and_are_validated(tmp_path: Path) -> None:
    path = toml(tmp_path, '[server]\nhost = "0.0.0.0"\n')
    s = load_settings(path, server={"port": 9100})
    assert (s.server.host, s.server.port) == ("0.0.0.0", 9100)
    with pytest.raises(SettingsError, match=r"server\.port"):
        load_settings(path, server={"port": 70000})


# --- errors that name the key -----------------------------------------------------------


@pytest.mark.parametrize(
    ("file_text", "env", "key"),
    [
        ("colour = 'blue'\n", {}, "colour"),
        ("[stt]\nbeam = 2\n", {}, "stt.beam"),
        ("[personas.jarvis.voice]\npitch = 2\n", {}, "personas.jarvis.voice.pitch"),
        ("", {"ZENGLOW_DEFAULT_PERSONNA": "leonardo"}, "ZENGLOW_DEFAULT_PERSONNA"),
        ("", {"ZENGLOW_STT__BEAM": "3"}, "stt.beam"),
    ],
    ids=["file-top", "file-nested", "file-persona", "env-top", "env-nested"],
)
def test_unknown_keys_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, file_text: str, env: dict, key: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as err:
        load_settings(toml(tmp_path, file_text))
    assert f"{key}: unknown key" in str(err.value)


def test_non_setting_variables_are_not_unknown_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZENGLOW_CONFIG", str(toml(tmp_path, "")))
    monkeypatch.setenv("ZENGLOW_SPEECH_DIR", str(tmp_path))
    assert load_settings().server.port == 8000


@pytest.mark.parametrize(
    ("file_text", "env", "key"),
    [
        ("[server]\nport = 70000\n", {}, "server.port"),
        ('[stt]\ndevice = "gpu"\n', {}, "stt.device"),
        ('[personas.jarvis.chat]\nbackend = "vllm"\n', {}, "personas.jarvis.chat.backend"),
        ("", {"ZENGLOW_STT__BEAM_SIZE": "many"}, "stt.beam_size"),
        ("", {"ZENGLOW_VAD__THRESHOLD": "1.5"}, "vad.threshold"),
    ],
)
def test_bad_values_name_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, file_text: str, env: dict, key: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as err:
        load_settings(toml(tmp_path, file_text))
    assert f"  {key}: " in str(err.value)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="config file not found"):
        load_settings(tmp_path / "absent.toml")


def test_toml_syntax_error(tmp_path: Path) -> None:
    path = toml(tmp_path, "[stt\nbeam_size = 2\n")
    with pytest.raises(SettingsError, match="cannot read config file") as err:
        load_settings(path)
    assert str(path) in str(err.value)


def test_default_persona_must_exist(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZENGLOW_DEFAULT_PERSONA", "marvin")
    with pytest.raises(SettingsError, match=r"'marvin' is not among the personas \(jarvis"):
        load_settings()


def test_unknown_persona_lists_the_known_ones() -> None:
    s = load_settings()
    with pytest.raises(
        SettingsError, match="unknown persona 'unknown'; configured: jarvis, leonardo"
    ):
        s.persona("unknown")
    assert s.persona("LEONARDO").display_name == "Leonardo"


def test_voice_names_openai_names_and_aliases(tmp_path: Path) -> None:
    path = toml(tmp_path, '[voices.joe-calm]\nspeed = 0.9\naliases = ["ash", "my-voice"]\n')
    voices = load_settings(path).voices
    assert set(voices) == {"joe", "joe-brisk", "joe-calm"}  # the built-in ones are kept
    chosen = [session_voice(voices, n) for n in ("joe", "ash", "my-voice")]
    assert chosen == ["joe", "joe-calm", "joe-calm"]
    for name in ("default", *(v for v in OPENAI_VOICES if v != "ash")):  # the persona's own
        assert session_voice(voices, name) is None
    with pytest.raises(UnknownVoice) as err:
        session_voice(voices, "nova")
    assert "'nova'" in err.value.message and "joe-calm" in err.value.message
    assert all(name in err.value.message for name in OPENAI_VOICES)


@pytest.mark.parametrize(
    ("voices", "words"),
    [
        ('[voices.a]\naliases = ["joe"]\n', "'joe' is already a voice name"),
        ('[voices.a]\naliases = ["default"]\n', "'default' is already a voice name"),
        ('[voices.a]\naliases = ["ash"]\n[voices.b]\naliases = ["ash"]\n',
         "'ash' is also an alias of voices.a"),
    ],
)  # fmt: skip
def test_an_alias_means_one_voice(tmp_path: Path, voices: str, words: str) -> None:
    with pytest.raises(SettingsError, match=words):
        load_settings(toml(tmp_path, voices))


# --- check_environment ------------------------------------------------------------------


@pytest.mark.parametrize(
    "key", ["stt.model", "llm.model", "personas.leonardo.voice.model", "server.certfile"]
)
def test_missing_model_path_names_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    missing = tmp_path / "nowhere" / "model.bin"
    monkeypatch.setenv("ZENGLOW_" + key.upper().replace(".", "__"), str(missing))
    s = load_settings()  # the file's existence is a machine matter, checked next
    with pytest.raises(SettingsError) as err:
        check_environment(s, cuda_devices=0)
    assert f"{key}: {missing} does not exist" in str(err.value)


def test_existing_model_path_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = tmp_path / "whisper"
    model.mkdir()
    monkeypatch.setenv("ZENGLOW_STT__MODEL", str(model))
    assert check_environment(load_settings(), cuda_devices=0).stt.model == model


def test_cuda_device_missing_says_how_to_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZENGLOW_STT__DEVICE", "cuda:1")
    with pytest.raises(SettingsError) as err:
        check_environment(load_settings(), cuda_devices=0)
    msg = str(err.value)
    assert "stt.device: cuda:1 requested but this machine has no CUDA device" in msg
    assert 'stt.device = "cpu"' in msg and "allow_device_fallback = true" in msg
    with pytest.raises(SettingsError, match=r"has 1 CUDA device\(s\)"):
        check_environment(load_settings(), cuda_devices=1)


def test_cuda_fallback_uses_cpu_and_warns(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("ZENGLOW_STT__DEVICE", "cuda:1")
    monkeypatch.setenv("ZENGLOW_STT__COMPUTE_TYPE", "float16")
    monkeypatch.setenv("ZENGLOW_ALLOW_DEVICE_FALLBACK", "true")
    s = load_settings()
    with caplog.at_level(logging.WARNING, logger="zenglow.settings"):
        checked = check_environment(s, cuda_devices=0)
    assert checked.stt.device == "cpu" and checked.stt.compute_type == "int8"
    assert s.stt.device == "cuda:1"  # the input is left as it was
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "cuda:1" in warnings[0].getMessage()
    assert "using the CPU" in warnings[0].getMessage()


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:1"])
def test_present_cuda_device_passes(monkeypatch: pytest.MonkeyPatch, device: str) -> None:
    monkeypatch.setenv("ZENGLOW_STT__DEVICE", device)
    s = load_settings()
    assert check_environment(s, cuda_devices=2) == s


def test_ollama_persona_needs_a_model() -> None:
    base = load_settings()
    jarvis = base.persona("jarvis")
    no_model = jarvis.model_copy(update={"chat": ChatSettings(backend="ollama")})
    s = base.model_copy(update={"personas": {**base.personas, "jarvis": no_model}})
    with pytest.raises(SettingsError, match=r"personas\.jarvis\.chat\.model: an Ollama model tag"):
        check_environment(s, cuda_devices=0)
    with_model = jarvis.model_copy(update={"chat": ChatSettings(backend="ollama", model="phi3")})
    ok = base.model_copy(update={"personas": {**base.personas, "jarvis": with_model}})
    assert check_environment(ok, cuda_devices=0) is ok


# --- chat endpoints ---------------------------------------------------------------------

POOL = """
[personas.jarvis.chat]
max_tokens = 60

[[personas.jarvis.chat.endpoints]]
kind = "ollama"
model = "phi3:3.8b-mini-4k-instruct-q4_0"
url = "http://gpu1:11434"
gpu = 1
options = { num_ctx = 4096, num_gpu = 99 }

[[personas.jarvis.chat.endpoints]]
kind = "openai"
name = "vllm-gpu0"
model = "microsoft/Phi-3-mini-4k-instruct"
url = "http://gpu0:8001/v1"
api_key = "secret"
max_in_flight = 4
max_queue = 2
first_token_timeout_s = 5
stall_timeout_s = 2.5
"""


def test_endpoints_from_the_file(tmp_path: Path) -> None:
    s = load_settings(toml(tmp_path, POOL))
    chat = s.persona("jarvis").chat
    assert chat.max_tokens == 60 and chat.temperature == 0.7
    gpu1, vllm = chat.pool()
    assert (gpu1.name, gpu1.kind, gpu1.gpu, gpu1.max_in_flight) == (
        "ollama@gpu1:11434",
        "ollama",
        1,
        2,
    )
    assert gpu1.options == {"num_ctx": 4096, "num_gpu": 99} and gpu1.keep_alive == "30m"
    assert (gpu1.max_queue, gpu1.first_token_timeout_s, gpu1.stall_timeout_s) == (8, 20.0, 10.0)
    assert (vllm.name, vllm.api_key, vllm.max_in_flight, vllm.max_queue) == (
        "vllm-gpu0",
        "secret",
        4,
        2,
    )
    assert (vllm.first_token_timeout_s, vllm.stall_timeout_s) == (5.0, 2.5)
    assert check_environment(s, cuda_devices=0) == s
    assert s.persona("leonardo").chat.pool()[0].kind == "embedded"  # untouched


def test_endpoints_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    endpoints = '[{"kind": "ollama", "model": "mistral", "url": "http://gpu0:11434", "gpu": 0}]'
    monkeypatch.setenv("ZENGLOW_PERSONAS__LEONARDO__CHAT__ENDPOINTS", endpoints)
    leo = load_settings().persona("leonardo")
    [endpoint] = leo.chat.pool()
    assert (endpoint.model, endpoint.gpu, endpoint.name) == ("mistral", 0, "ollama@gpu0:11434")
    assert leo.chat.max_tokens == 160  # the persona's other keys are kept


@pytest.mark.parametrize(
    ("endpoints", "key", "words"),
    [
        ('{ kind = "openai", model = "m" }', "endpoints.0", "an openai endpoint needs a url"),
        ('{ kind = "ollama", model = "m", url = "gpu1:11434" }', "endpoints.0", "url must look"),
        ('{ kind = "ollama", model = "m", max_in_flight = 0 }', "endpoints.0.max_in_flight", ""),
        (
            '{ kind = "ollama", model = "m", stall_timeout_s = 0 }',
            "endpoints.0.stall_timeout_s",
            "",
        ),
        ('{ kind = "ollama", model = "m", gpus = 1 }', "endpoints.0.gpus", "unknown key"),
        ('{ kind = "embedded", model = "m" }', "endpoints.0", "do not apply to the embedded"),
        ('{ kind = "ollama", model = "a" }, { kind = "ollama", model = "b" }', "", "used twice"),
    ],
    ids=["openai-url", "url-shape", "in-flight", "stall", "unknown", "embedded-model", "names"],
)
def test_bad_endpoints_name_the_key(tmp_path: Path, endpoints: str, key: str, words: str) -> None:
    path = toml(tmp_path, f"[personas.jarvis.chat]\nendpoints = [{endpoints}]\n")
    with pytest.raises(SettingsError) as err:
        load_settings(path)
    where = "personas.jarvis.chat" + (f".{key}" if key else "")
    line = next(x for x in str(err.value).splitlines() if x.startswith(f"  {where}: "))
    assert words in line


def test_endpoints_and_the_single_endpoint_keys_do_not_mix(tmp_path: Path) -> None:
    text = '[personas.jarvis.chat]\nbackend = "ollama"\nmodel = "phi3"\n'
    text += 'endpoints = [{ kind = "ollama", model = "phi3" }]\n'
    with pytest.raises(SettingsError, match="either endpoints or the single-endpoint keys"):
        load_settings(toml(tmp_path, text))


def test_endpoints_need_a_model(tmp_path: Path) -> None:
    text = "[personas.leonardo.chat]\nendpoints = ["
    text += '{ kind = "ollama", model = "mistral" }, { kind = "ollama", name = "gpu1" }, '
    text += '{ kind = "openai", url = "http://gpu0:8001/v1" }]\n'
    s = load_settings(toml(tmp_path, text))  # a model is a machine matter: checked next
    with pytest.raises(SettingsError) as err:
        check_environment(s, cuda_devices=0)
    msg = str(err.value)
    assert "personas.leonardo.chat.endpoints.1.model: an Ollama model tag is required" in msg
    assert "personas.leonardo.chat.endpoints.2.model: a model name is required" in msg
    assert "endpoints.0" not in msg


def test_settings_are_frozen() -> None:
    s = Settings()
    with pytest.raises(ValueError, match="frozen"):
        s.default_persona = "leonardo"  # type: ignore[misc]


def test_nothing_is_read_at_import(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("ZENGLOW_")}
    env |= {"ZENGLOW_CONFIG": str(tmp_path / "absent.toml"), "ZENGLOW_STT__BEAM_SIZE": "x"}
    code = (
        "import zenglow.settings, zenglow.cli\n"
        "try:\n"
        "    zenglow.settings.load_settings()\n"
        "except zenglow.settings.SettingsError as exc:\n"
        "    print('refused:', exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("refused: config file not found")

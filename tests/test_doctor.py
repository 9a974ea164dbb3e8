"""`zenglow doctor`: the pure device rows, and real checks against real and missing servers."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from zenglow.knowledge import Knowledge
from zenglow.ops.doctor import (
    Check,
    EndpointGpu,
    Gpu,
    device_checks,
    diagnose,
    exit_status,
    gpu_checks,
    knowledge_check,
    render_table,
    to_json,
)
from zenglow.settings import load_settings
from zenglow.settings.knowledge import KnowledgeSettings

from .ollama_server import OllamaServer, Script, unused_port
from .test_cli import clean_env, zenglow_command

GIB = 1 << 30
H100 = Gpu(0, "NVIDIA H100", 80 * GIB, 10 * GIB)
FULL = Gpu(1, "NVIDIA L4", 24 * GIB, 23 * GIB)


def by_component(checks: list[Check]) -> dict[str, Check]:
    return {c.component: c for c in checks}


# --- pure rows ------------------------------------------------------------------------


def test_table_and_exit_status():
    rows = [Check("stt", "OK", "tiny.en on cpu"), Check("chat:jarvis/gpu1", "FAIL", "gone")]
    table = render_table(rows).splitlines()
    assert table[0].split() == ["COMPONENT", "STATUS", "DETAIL"]
    assert table[2].startswith("chat:jarvis/gpu1  FAIL    gone")
    assert table[1].index("OK") == table[2].index("FAIL")  # aligned columns
    assert table[-1] == "1 OK, 0 WARN, 1 FAIL"
    assert exit_status(rows) == 1 and exit_status(rows[:1]) == 0
    assert exit_status([Check("gpu", "WARN", "x")]) == 0
    doc = to_json(rows)
    assert doc["ok"] is False and doc["checks"][1]["status"] == "FAIL"


def test_gpu_rows():
    none = by_component(gpu_checks(None, 0, cuda_wanted=False))
    assert none["gpu"].status == "OK" and "CPU only" in none["gpu"].detail
    assert by_component(gpu_checks(None, 0, cuda_wanted=True))["gpu"].status == "WARN"

    two = by_component(gpu_checks([H100, FULL], 2, cuda_wanted=True))
    assert two["gpu"].detail == "NVML sees 2 GPU(s)"
    assert (
        two["gpu:0"].status == "OK"
        and "10.0 of 80.0 GiB used, 70.0 GiB free" in two["gpu:0"].detail
    )
    assert two["gpu:1"].status == "WARN" and "may fail to load" in two["gpu:1"].detail
    assert two["gpu:ctranslate2"].status == "OK"
    # NVML sees GPUs that CTranslate2 cannot use: Whisper would not find them.
    assert by_component(gpu_checks([H100], 0, cuda_wanted=True))["gpu:ctranslate2"].status == "WARN"


def test_stt_device_rows():
    def stt(device: str, ct2: int, fallback: bool = False) -> Check:
        return device_checks(device, fallback, [], [H100, FULL][:ct2], ct2)[0]

    assert stt("cpu", 0).status == "OK"
    assert stt("cuda:1", 2) == Check("device:stt", "OK", "cuda:1 (NVIDIA L4)")
    assert stt("cuda", 1).status == "OK"
    missing = stt("cuda:1", 1)
    assert missing.status == "FAIL" and "cuda:1 configured, 1 CUDA device(s)" in missing.detail
    assert stt("cuda:0", 0, fallback=True).status == "WARN"


def test_endpoint_gpu_rows():
    endpoints = [
        EndpointGpu("chat:leonardo/gpu0", 0, "http://ollama-gpu0:11434"),
        EndpointGpu("chat:jarvis/local", 1, "http://127.0.0.1:11434"),
        EndpointGpu("chat:jarvis/wrong", 3, "http://localhost:11435"),
    ]
    rows = by_component(device_checks("cpu", False, endpoints, [H100, FULL], 2))
    assert rows["device:chat:leonardo/gpu0"].status == "OK"
    assert "ollama-gpu0" in rows["device:chat:leonardo/gpu0"].detail
    assert rows["device:chat:jarvis/local"] == Check(
        "device:chat:jarvis/local", "OK", "GPU 1 (NVIDIA L4)"
    )
    assert rows["device:chat:jarvis/wrong"].status == "WARN"
    assert "2 GPU(s)" in rows["device:chat:jarvis/wrong"].detail


# --- real engines, real servers -------------------------------------------------------


@pytest.fixture(scope="module")
def doctor_config(tmp_path_factory) -> Iterator[Path]:
    """Jarvis on two Ollama servers (one lacks the model), Leonardo on a server that is not
    there, and Mira on the embedded model."""
    with (
        OllamaServer(Script(models=["phi3:mini"])) as has,
        OllamaServer(Script(models=["other:7b"])) as lacks,
    ):
        gone = unused_port()
        path = tmp_path_factory.mktemp("doctor") / "zenglow.toml"
        path.write_text(
            f"""
[personas.jarvis.chat]
endpoints = [
  {{ kind = "ollama", model = "phi3:mini", url = "{has.url}", name = "main", gpu = 1 }},
  {{ kind = "ollama", model = "phi3:mini", url = "{lacks.url}", name = "spare" }},
]

[[personas.leonardo.chat.endpoints]]
kind = "ollama"
model = "mistral:7b"
url = "http://127.0.0.1:{gone}"
name = "gone"

[personas.mira]
display_name = "Mira"
system_prompt = "You are Mira."

[knowledge]
data_dir = "{path.parent / "index"}"

[knowledge.embedder]
kind = "ollama"
model = "nomic-embed-text"
url = "http://127.0.0.1:{gone}"
"""
        )
        yield path


def test_diagnose_finds_what_is_missing(doctor_config):
    rows = by_component(asyncio.run(diagnose(load_settings(doctor_config), timeout_s=10)))
    for component in ("stt", "vad", "tts:jarvis", "tts:leonardo", "tts:mira", "llm:embedded"):
        assert rows[component].status == "OK", rows[component]
    assert "22050 Hz, 1 speaker(s)" in rows["tts:jarvis"].detail

    assert rows["chat:jarvis/main"].status == "OK"
    spare = rows["chat:jarvis/spare"]
    assert spare.status == "FAIL" and "`ollama pull phi3:mini`" in spare.detail
    gone = rows["chat:leonardo/gone"]
    port = load_settings(doctor_config).personas["leonardo"].chat.endpoints[0].url
    assert gone.status == "FAIL" and f"cannot reach Ollama at {port}" in gone.detail
    assert rows["chat:mira/embedded"] == Check(
        "chat:mira/embedded", "OK", "embedded, in-process: ready"
    )
    documents = rows["documents"]
    assert documents.status == "FAIL" and f"127.0.0.1:{port.rsplit(':', 1)[1]}" in documents.detail

    # No GPU here: the endpoint labelled GPU 1 on this machine draws a warning, no failure.
    assert rows["gpu"].status == "WARN"
    assert rows["device:chat:jarvis/main"].status == "WARN"
    assert rows["device:stt"] == Check("device:stt", "OK", "cpu")
    assert exit_status(list(rows.values())) == 1


def test_the_document_index_is_checked(tmp_path):
    settings = load_settings(None)
    settings = settings.model_copy(
        update={"knowledge": KnowledgeSettings(data_dir=tmp_path / "index")}
    )

    async def ingest_then_check() -> Check:
        knowledge = Knowledge(settings.knowledge)
        (tmp_path / "notes.md").write_text("# Notes\n\nThe shed code is 4711.\n")
        await knowledge.ingest(tmp_path / "notes.md")
        await knowledge.aclose()
        return await knowledge_check(settings, 10)

    row = asyncio.run(ingest_then_check())
    assert row.status == "OK" and row.detail.endswith(": 1 documents, 1 passages"), row


def doctor(*args: str | Path) -> subprocess.CompletedProcess[str]:
    command = [*zenglow_command(), *map(str, args)]
    return subprocess.run(command, env=clean_env(), capture_output=True, text=True, timeout=300)


def test_cli_json_exits_1_on_failures(doctor_config):
    done = doctor("--config", doctor_config, "doctor", "--json", "--timeout", "5")
    assert done.returncode == 1, done.stderr
    doc = json.loads(done.stdout)
    statuses = {c["component"]: c["status"] for c in doc["checks"]}
    assert doc["ok"] is False
    assert statuses["config"] == "OK" and statuses["stt"] == "OK"
    assert statuses["chat:jarvis/spare"] == statuses["chat:leonardo/gone"] == "FAIL"


def test_cli_table_exits_0_on_the_embedded_defaults():
    done = doctor("doctor")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["COMPONENT", "STATUS", "DETAIL"]
    components = {line.split()[0]: line.split()[1] for line in lines[1:-1]}
    assert set(components.values()) == {"OK"}
    assert {"stt", "vad", "tts:jarvis", "llm:embedded", "chat:jarvis/embedded"} <= set(components)
    assert lines[-1].endswith("0 WARN, 0 FAIL")


def test_cli_reports_a_bad_config(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[stt]\ndevice = "gpu7"\n')
    done = doctor("--config", bad, "doctor")
    assert done.returncode == 1
    config = done.stdout.splitlines()[1].split()
    assert config[:2] == ["config", "FAIL"] and "stt.device:" in config

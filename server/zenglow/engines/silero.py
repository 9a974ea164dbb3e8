"""Silero VAD v6 over the ONNX file that faster-whisper ships, run with onnxruntime.

`SileroModel` is loaded once per process and holds no per-stream state; `SileroVAD` is the
per-stream detector that carries the recurrent state, the 64-sample context and any leftover
samples from one `process` call to the next.  Inference is about 0.1 ms per 32 ms frame, so
`process` is synchronous: callers choose where it runs.
"""

from __future__ import annotations

import importlib.resources
import threading
from pathlib import Path

import numpy as np

from .base import EngineError
from .onnx import cpu_session

MODEL_FILE = "silero_vad_v6.onnx"
SAMPLE_RATE = 16000
FRAME_SAMPLES = 512  # 32 ms at 16 kHz, the frame size the model was trained on
CONTEXT_SAMPLES = 64  # tail of the previous frame, prepended to each frame
STATE_SHAPE = (1, 1, 128)  # LSTM hidden and cell state, one each
_MAX_BATCH_FRAMES = 1024  # frames per inference call (bounds memory for long inputs)
_INPUTS = {"input", "h", "c"}


def default_model_path() -> Path:
    """Where faster-whisper keeps its Silero VAD model."""
    try:
        assets = importlib.resources.files("faster_whisper") / "assets" / MODEL_FILE
    except ModuleNotFoundError:
        raise EngineError(
            "Silero VAD needs the faster-whisper package (it ships the model): "
            "pip install faster-whisper"
        ) from None
    return Path(str(assets))


class SileroModel:
    """The ONNX session, shared by every stream in the process.

    The model keeps no state between calls (the caller passes state in and gets it back), and
    onnxruntime allows concurrent `run` calls on one session, so any thread may call `run`.
    """

    sample_rate = SAMPLE_RATE
    frame_samples = FRAME_SAMPLES

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_model_path()
        if not self.path.is_file():
            raise EngineError(
                f"Silero VAD model not found at {self.path}: reinstall faster-whisper, "
                "which ships it"
            )
        self._session = cpu_session(self.path, "Silero VAD")
        names = {i.name for i in self._session.get_inputs()}
        if names != _INPUTS:
            raise EngineError(
                f"{self.path} is not the Silero VAD export this engine expects: inputs "
                f"{sorted(names)}, expected {sorted(_INPUTS)}"
            )

    def run(
        self, frames: np.ndarray, h: np.ndarray, c: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Speech probability for consecutive frames of one stream.

        `frames` is (n, CONTEXT_SAMPLES + FRAME_SAMPLES) float32: each row is a frame with the
        last samples of the previous one prepended.  The recurrent state runs across the rows
        in order, so one call equals n single-frame calls.  Returns (probs (n,), h, c).
        """
        probs, h, c = self._session.run(None, {"input": frames, "h": h, "c": c})
        return np.asarray(probs, dtype=np.float32).reshape(-1), h, c


_shared: dict[Path, SileroModel] = {}
_shared_lock = threading.Lock()


def shared_model(path: str | Path | None = None) -> SileroModel:
    """The process-wide model for `path` (default: faster-whisper's), loaded on first use."""
    key = Path(path) if path is not None else default_model_path()
    with _shared_lock:
        model = _shared.get(key)
        if model is None:
            model = _shared[key] = SileroModel(key)
        return model


class SileroVAD:
    """Streaming speech detector for one audio stream (16 kHz float32 mono)."""

    sample_rate = SAMPLE_RATE
    frame_samples = FRAME_SAMPLES

    def __init__(self, model: SileroModel | None = None) -> None:
        self.model = model if model is not None else shared_model()
        self.reset()

    def reset(self) -> None:
        """Forget the stream: recurrent state, context and buffered samples."""
        self._h = np.zeros(STATE_SHAPE, dtype=np.float32)
        self._c = np.zeros(STATE_SHAPE, dtype=np.float32)
        self._context = np.zeros(CONTEXT_SAMPLES, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)

    @property
    def pending_samples(self) -> int:
        """Samples held back until a frame is complete."""
        return len(self._pending)

    def process(self, audio: np.ndarray) -> list[float]:
        """Feed audio of any length; one speech probability per complete 512-sample frame."""
        audio = np.asarray(audio)
        if audio.ndim != 1:
            raise ValueError(f"Silero VAD takes mono 1-D audio, got shape {audio.shape}")
        if not np.issubdtype(audio.dtype, np.floating):
            raise ValueError(f"Silero VAD takes float audio in [-1, 1], got {audio.dtype}")
        buf = np.concatenate([self._pending, audio.astype(np.float32, copy=False)])
        n = len(buf) // FRAME_SAMPLES
        self._pending = buf[n * FRAME_SAMPLES :].copy()
        if n == 0:
            return []
        frames = buf[: n * FRAME_SAMPLES].reshape(n, FRAME_SAMPLES)
        rows = np.empty((n, CONTEXT_SAMPLES + FRAME_SAMPLES), dtype=np.float32)
        rows[:, CONTEXT_SAMPLES:] = frames
        rows[0, :CONTEXT_SAMPLES] = self._context
        rows[1:, :CONTEXT_SAMPLES] = frames[:-1, -CONTEXT_SAMPLES:]
        self._context = frames[-1, -CONTEXT_SAMPLES:].copy()
        out: list[float] = []
        for i in range(0, n, _MAX_BATCH_FRAMES):
            probs, self._h, self._c = self.model.run(
                rows[i : i + _MAX_BATCH_FRAMES], self._h, self._c
            )
            out.extend(probs.tolist())
        return out

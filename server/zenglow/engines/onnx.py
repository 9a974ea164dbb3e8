"""One ONNX Runtime session on the CPU, one thread: how the small models here are run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .base import EngineError


def cpu_session(path: Path, what: str) -> Any:
    """An `onnxruntime.InferenceSession` for `path`; EngineError naming `what` if it fails."""
    import onnxruntime

    opts = onnxruntime.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    try:
        return onnxruntime.InferenceSession(
            str(path), sess_options=opts, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime's load errors share no common base class
        raise EngineError(f"cannot load {what} model {path}: {exc}") from None

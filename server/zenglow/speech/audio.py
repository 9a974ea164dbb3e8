"""PCM helpers.  Audio is mono numpy arrays; time is counted in samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soxr


class AudioError(ValueError):
    """Audio that cannot be read or is not in the expected shape."""


def int16_to_float(pcm: np.ndarray) -> np.ndarray:
    return (pcm.astype(np.float32) / 32768.0).astype(np.float32, copy=False)


def float_to_int16(audio: np.ndarray) -> np.ndarray:
    return (np.clip(audio, -1.0, 1.0) * 32767.0).round().astype(np.int16)


def pcm16_from_bytes(data: bytes) -> np.ndarray:
    """Little-endian PCM16 bytes -> int16 array.  Odd-length input is an error."""
    if len(data) % 2:
        raise AudioError(f"PCM16 audio must have an even number of bytes, got {len(data)}")
    return np.frombuffer(data, dtype="<i2").astype(np.int16, copy=False)


def resample(audio: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """Resample mono audio (float32 or int16), keeping the dtype."""
    if src_rate == dst_rate or len(audio) == 0:
        return audio
    if audio.dtype == np.int16:
        return float_to_int16(soxr.resample(int16_to_float(audio), src_rate, dst_rate, "HQ"))
    return soxr.resample(audio.astype(np.float32, copy=False), src_rate, dst_rate, "HQ").astype(
        np.float32, copy=False
    )


class StreamResampler:
    """Chunked resampling that keeps filter state across calls (no clicks at boundaries)."""

    def __init__(self, src_rate: int, dst_rate: int) -> None:
        self.src_rate, self.dst_rate = src_rate, dst_rate
        self._soxr = (
            None
            if src_rate == dst_rate
            else soxr.ResampleStream(src_rate, dst_rate, 1, dtype="float32", quality="HQ")
        )

    def process(self, audio: np.ndarray, last: bool = False) -> np.ndarray:
        audio = audio.astype(np.float32, copy=False)
        if self._soxr is None:
            return audio
        return self._soxr.resample_chunk(audio, last=last)


class AudioTooLong(AudioError):
    """Audio longer than the caller accepts: found out before it is all decoded."""


def read_audio(
    path: str | Path, sample_rate: int = 16000, max_s: float | None = None
) -> np.ndarray:
    """Decode any common audio file (wav, flac, ogg, mp3, ...) to float32 mono at `sample_rate`.

    With `max_s`, longer audio raises AudioTooLong as soon as that is known: from the file's
    header where it says, else while decoding, so a small file of hours of silence is never
    decoded whole."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"no such audio file: {path}")
    import soundfile as sf

    try:
        info = sf.info(str(path))
    except Exception:  # libsndfile cannot read it: let PyAV (FFmpeg) try
        return _decode_with_av(path, sample_rate, max_s)
    if max_s is not None and info.duration > max_s:
        raise AudioTooLong(
            f"{path.name} holds {info.duration:.0f} s of audio; the limit is {max_s:g} s"
        )
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:
        raise AudioError(f"cannot decode audio file {path}: {exc}") from None
    audio = data.mean(axis=1).astype(np.float32)
    if len(audio) == 0:
        raise AudioError(f"audio file {path} holds no samples")
    return resample(audio, rate, sample_rate)


def _decode_with_av(path: Path, sample_rate: int, max_s: float | None) -> np.ndarray:
    import av

    limit = None if max_s is None else int(max_s * sample_rate)
    parts: list[np.ndarray] = []
    total = 0
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise AudioError(f"{path.name} has no audio stream")
            stream = container.streams.audio[0]
            if max_s is not None and container.duration is not None:
                seconds = container.duration / 1_000_000
                if seconds > max_s:
                    raise AudioTooLong(
                        f"{path.name} holds {seconds:.0f} s of audio; the limit is {max_s:g} s"
                    )
            resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunk = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
                    parts.append(chunk)
                    total += len(chunk)
                if limit is not None and total > limit:
                    raise AudioTooLong(f"{path.name} holds more than {max_s:g} s of audio")
            for out in resampler.resample(None):
                parts.append(out.to_ndarray().reshape(-1).astype(np.float32, copy=False))
    except AudioError:
        raise
    except Exception as exc:
        raise AudioError(f"cannot decode audio file {path}: {exc}") from None
    if not parts or not sum(len(p) for p in parts):
        raise AudioError(f"audio file {path} holds no samples")
    return np.concatenate(parts)


def write_wav(path: str | Path, pcm: np.ndarray, sample_rate: int) -> None:
    import soundfile as sf

    sf.write(str(path), pcm, sample_rate, subtype="PCM_16")


def rms_dbfs(audio: np.ndarray) -> float:
    """Root-mean-square level in dBFS (float audio in [-1, 1] or int16)."""
    x = int16_to_float(audio) if audio.dtype == np.int16 else audio
    if len(x) == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
    return 20.0 * np.log10(max(rms, 1e-6))

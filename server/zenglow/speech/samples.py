"""A growable buffer of float32 samples: appending is amortised O(1) (the storage doubles
when full) and dropping from the front is O(1) (the start moves; the storage is compacted
once half of it is dropped), so minutes of push-to-talk audio arriving in 20 ms pieces cost
linear time, not a copy of the whole buffer per piece."""

from __future__ import annotations

import numpy as np


class SampleBuffer:
    def __init__(self, capacity: int = 1 << 14) -> None:
        self._data = np.zeros(max(capacity, 16), np.float32)
        self._start = 0
        self._end = 0

    def __len__(self) -> int:
        return self._end - self._start

    def view(self) -> np.ndarray:
        """The samples held (a view: copy it to keep it past the next change)."""
        return self._data[self._start : self._end]

    def append(self, audio: np.ndarray) -> None:
        n = len(audio)
        if self._end + n > len(self._data):
            held = len(self)
            size = len(self._data)
            while size < held + n:
                size *= 2
            if size == len(self._data):  # room enough once what was dropped is let go
                self._data[:held] = self._data[self._start : self._end]
            else:
                grown = np.zeros(size, np.float32)
                grown[:held] = self._data[self._start : self._end]
                self._data = grown
            self._start, self._end = 0, held
        self._data[self._end : self._end + n] = audio
        self._end += n

    def drop(self, n: int) -> None:
        """Let go of the oldest `n` samples."""
        self._start = min(self._end, self._start + max(0, n))
        if self._start == self._end:
            self._start = self._end = 0

    def clear(self) -> None:
        self._start = self._end = 0

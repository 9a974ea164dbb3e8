"""Typed access to a client event's JSON, and the error every bad field becomes."""

from __future__ import annotations

from typing import Any


class ProtocolError(ValueError):
    """A client event this server cannot accept; becomes a Realtime `error` event."""

    def __init__(
        self, code: str, message: str, *, event_id: str | None = None, param: str | None = None
    ) -> None:
        super().__init__(message)
        self.code, self.message, self.event_id, self.param = code, message, event_id, param


class JsonObject:
    """One JSON object; errors name the parameter path and carry the client's event id."""

    def __init__(self, data: dict[str, Any], path: str, event_id: str | None) -> None:
        self.data, self.path, self.event_id = data, path, event_id

    def param(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str, message: str, code: str = "invalid_value") -> ProtocolError:
        return ProtocolError(code, message, event_id=self.event_id, param=self.param(key))

    def given(self, key: str) -> bool:
        return self.data.get(key) is not None

    def _value(self, key: str, kinds: tuple[type, ...], what: str, required: bool) -> Any:
        value = self.data.get(key)
        if value is None:
            if required:
                raise self.error(key, f"missing required parameter '{self.param(key)}'")
            return None
        if not isinstance(value, kinds) or (bool not in kinds and isinstance(value, bool)):
            raise self.error(key, f"'{self.param(key)}' must be {what}")
        return value

    def text(self, key: str, *, required: bool = False, nonempty: bool = False) -> str | None:
        value = self._value(key, (str,), "a string", required)
        if nonempty and value == "":
            raise self.error(key, f"'{self.param(key)}' must not be empty")
        return value

    def integer(
        self, key: str, *, required: bool = False, lo: int = 0, hi: int = 2**31
    ) -> int | None:
        value = self._value(key, (int, float), "an integer", required)
        if value is None:
            return None
        if not lo <= value <= hi or value != int(value):
            raise self.error(key, f"'{self.param(key)}' must be an integer in [{lo}, {hi}]")
        return int(value)

    def number(self, key: str, lo: float, hi: float) -> float | None:
        value = self._value(key, (int, float), "a number", False)
        if value is not None and not lo <= value <= hi:
            raise self.error(key, f"'{self.param(key)}' must be between {lo} and {hi}")
        return None if value is None else float(value)

    def flag(self, key: str) -> bool | None:
        return self._value(key, (bool,), "true or false", False)

    def child(self, key: str, *, required: bool = False) -> JsonObject | None:
        value = self._value(key, (dict,), "an object", required)
        return None if value is None else JsonObject(value, self.param(key), self.event_id)

    def sub(self, key: str, *, required: bool = False) -> JsonObject:
        """The object at `key`, or an empty one when it is absent."""
        return self.child(key, required=required) or JsonObject({}, self.param(key), self.event_id)

    def array(self, key: str, *, required: bool = False) -> list[Any] | None:
        return self._value(key, (list,), "an array", required)

    def unknown(self, known: set[str]) -> list[str]:
        """Paths of the fields not in `known` that ask for something (not null, [] or {})."""
        return [self.param(k) for k, v in self.data.items() if k not in known and _asks(v)]

    def asked(self, *keys: str) -> list[str]:
        """Paths of those `keys` that ask for something."""
        return [self.param(k) for k in keys if _asks(self.data.get(k))]


def _asks(value: Any) -> bool:
    return value is not None and value != [] and value != {}

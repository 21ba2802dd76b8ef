"""`Phases`: a compact, read-only `Mapping[str, float]` for the phase timings a result carries.

The daemon keeps the latest result of every endpoint (the status page, the API, alert summaries): at 100,000
endpoints a plain dict of five phases and its float objects cost ~350 B per endpoint, `Phases` ~160 B (the key
tuple is shared by every result of the same shape, the values are one `array('d')`).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Mapping

_SHAPES: dict[tuple[str, ...], tuple[str, ...]] = {}
_MAX_SHAPES = 64  # a few shapes in practice (one per probe kind and TLS or not); beyond: not shared


class Phases(Mapping[str, float]):
    __slots__ = ("_keys", "_values")

    def __init__(self, keys: tuple[str, ...], values: array[float]) -> None:
        self._keys = keys
        self._values = values

    @classmethod
    def of(cls, phases: Mapping[str, float]) -> Phases:
        keys = tuple(phases)
        shared = _SHAPES.get(keys)
        if shared is None:
            if len(_SHAPES) < _MAX_SHAPES and all(type(k) is str for k in keys):
                _SHAPES[keys] = keys
            shared = keys
        return cls(shared, array("d", phases.values()))

    def parts(self) -> tuple[tuple[str, ...], array[float]]:
        """(names, values): the shared key tuple and the `array('d')` itself (the store's phase_codec packs
        the array as it is; neither may be changed)."""
        return self._keys, self._values

    def __getitem__(self, key: str) -> float:
        try:
            return self._values[self._keys.index(key)]
        except ValueError:
            raise KeyError(key) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __repr__(self) -> str:
        return f"Phases({dict(self)!r})"

    def __reduce__(self) -> tuple[type[dict[str, float]], tuple[dict[str, float]]]:
        return dict, (dict(self),)  # pickles (to a worker, a cache) as the plain dict it stands for


__all__ = ["Phases"]

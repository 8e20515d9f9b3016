"""The one registry shape both the dataset formats and the model families use.

Each registry module lists its entries in a `BUILT_IN` tuple (one module per entry, importing only its
stage's `base.py`) and registers them into a `Registry`; an entry is anything with a `name`. Nothing
here imports Keras, NumPy or Pillow: the config check reads the registries while planning.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, TypeVar

Entry = TypeVar("Entry")


class Registry(Generic[Entry]):
    """Entries by name. `noun` names one in messages ("model family"), `listed_as` the list of their
    names ("models"), and `unknown` is the error a name that no entry has raises."""

    def __init__(self, noun: str, listed_as: str, unknown: type[Exception], entries: Iterable = ()):
        self.noun, self.listed_as, self.unknown = noun, listed_as, unknown
        self._entries: dict[str, Entry] = {}
        for entry in entries:
            self.register(entry)

    def register(self, entry: Entry) -> Entry:
        """Make `entry` known by its name; another entry of the same name is refused."""
        name = entry.name
        if self._entries.get(name, entry) is not entry:
            raise ValueError(f"a {self.noun} named {name!r} is already registered")
        self._entries[name] = entry
        return entry

    def names(self) -> list[str]:
        return sorted(self._entries)

    def get(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            raise self.unknown(
                f"unknown {self.noun} {name!r}; registered {self.listed_as}: {', '.join(self.names())}"
            ) from None

    def copy(self) -> Registry[Entry]:
        """A registry of the same entries, for a test that registers one of its own."""
        return Registry(self.noun, self.listed_as, self.unknown, self._entries.values())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __getitem__(self, name: str) -> Entry:
        return self.get(name)

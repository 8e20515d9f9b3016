"""The report's words (report/strings.yaml), in the language the config chooses."""

from __future__ import annotations

import yaml


def load_strings(path, language: str) -> dict:
    """The report's words in one language; English fills any key a language lacks."""
    with open(path) as handle:
        every = yaml.safe_load(handle)
    if language not in every:
        raise ValueError(f"{path}: no strings for report.language {language!r}; known: {sorted(every)}")
    return {**every["en"], **every[language]}

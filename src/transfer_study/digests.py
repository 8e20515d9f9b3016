"""One text and one digest for one value, whatever the order of its keys.

Apart from config.py so that a training job, which needs only these, does not reach the config check
and the dataset formats through its imports (the modules a job reaches are its code inputs).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(value: Any) -> str:
    """One text for one value, whatever the order of its keys."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def digest(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()

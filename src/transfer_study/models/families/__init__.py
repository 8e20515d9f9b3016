"""One module per model family, each defining `FAMILY = ModelFamily(...)` (base.py); a new family is a
module here plus its line in models/registry.py's BUILT_IN."""

"""Dataset formats: one module per format, each declaring everything about it in one DatasetFormat,
and the registry (registry.py) that the config check, preprocessing and the demo's generator ask."""

"""The key itself, free of I/O: the core, its security part, credential store, state, flash,
device key, clock and button.

Submodules are imported on demand (the cold start pays only for what it uses).
"""

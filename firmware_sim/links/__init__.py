"""Links that carry a key's messages: pty and TCP (framed byte streams), and in-memory.

Submodules are imported on demand so that each user pays only for the link it uses.
"""

"""Simulated Hideez-style key.

``firmware/`` is the I/O-free key, ``links/`` carries its messages (pty, TCP, memory, BLE),
the runners sit here (``serve``, ``threaded``, ``simulator``, ``__main__``) and ``testing/``
holds the pytest plugin, pairing helpers and transcripts.
"""

"""keybridge: keep the HES two-factor secret on a Hideez-style key that types the code."""

from keybridge.errors import KeybridgeError

__version__ = "0.1.0"

__all__ = ["KeybridgeError", "__version__"]

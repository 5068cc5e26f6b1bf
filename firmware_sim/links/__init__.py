"""Links that carry a key's messages, and the loops that serve a key on them.

Byte streams: ``pty`` and ``tcp`` on the poll ``reactor``, each through a ``framed_port``;
``memory`` for a key in the host's own process; BLE: ``ble_peripheral`` (the GATT service on
Bumble), ``virtual_radio`` (keys and hosts on one in-process radio) and ``ble_keys`` (``serve
--link ble-virtual`` / ``ble:TRANSPORT``). ``device`` is what every link serves.

Submodules are imported on demand so that each user pays only for the link it uses.
"""

"""``python -m firmware_sim serve [...]``: see :mod:`firmware_sim.serve`."""

from __future__ import annotations

import sys

USAGE = "usage: python -m firmware_sim serve [options]  (python -m firmware_sim serve --help)\n"


def main(argv: list[str]) -> int:
    if not argv:
        sys.stderr.write(USAGE)
        return 2
    if argv[0] in ("-h", "--help"):
        sys.stdout.write(USAGE)
        return 0
    if argv[0] != "serve":
        sys.stderr.write(f"python -m firmware_sim: error: unknown command {argv[0]!r}; use serve\n")
        return 2
    from firmware_sim.serve import main as serve_main

    return serve_main(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

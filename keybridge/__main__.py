"""``python -m keybridge`` runs the CLI (through the console script's entry, fast path included)."""

from keybridge.cli.fast import main

main()

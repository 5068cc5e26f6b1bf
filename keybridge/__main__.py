"""``python -m keybridge`` runs the CLI."""

from keybridge.cli.main import main

main()

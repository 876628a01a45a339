"""``python -m llmstack`` runs the CLI."""

from llmstack.cli.app import main

main()

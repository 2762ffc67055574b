"""The command line: one module per `python -m disco_core` command (`HELP`, `add_arguments`, `run`); see cli.py."""

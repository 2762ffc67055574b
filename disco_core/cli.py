"""`python -m disco_core <command>`: one module per command in `disco_core/commands/`.

Each command module defines `HELP` (one line), `add_arguments(parser)` and `run(args) -> int`.
Modules are imported only when their command runs, so a missing optional dependency costs one command.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from .errors import DiscoError

# command name -> module in disco_core.commands
COMMANDS = {
    "convert": "convert",
    "check-parity": "check_parity",
    "animate": "animate",
    "render-pose": "render_pose",
    "pose": "pose",
    "mask": "mask",
    "client": "client",
    "finetune": "finetune",
    "batch": "batch",
}


def _load(name: str):
    return importlib.import_module(f".commands.{COMMANDS[name]}", package=__package__)


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m disco_core", description="DisCo human dance generation")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name in COMMANDS:
        if name == chosen:
            module = _load(name)
            add_arguments, help_text = module.add_arguments, module.HELP
        else:
            add_arguments, help_text = None, None
        p = sub.add_parser(name, help=help_text or f"(see `python -m disco_core {name} --help`)")
        if add_arguments:
            add_arguments(p)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    try:
        return int(_load(args.command).run(args) or 0)
    except DiscoError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1

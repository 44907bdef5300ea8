"""The command line of compare.py: a dispatcher. `compare.py [options]` runs the comparison
(shared/commands/compare.py); `compare.py SUB-COMMAND ...` runs the sub-command's module. The
sub-commands share their argument helpers (shared/commands/args.py) and never import this module."""

from __future__ import annotations

import importlib
import sys

from shared.commands.args import SUBCOMMANDS


def main(argv: list[str] | None = None) -> int:
    from shared.harness.environment import command_started

    command_started()  # its report's stamp says when it started and how busy the machine was then
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in SUBCOMMANDS:
        return importlib.import_module(SUBCOMMANDS[argv[0]].module).main(argv[1:])
    from shared.commands import compare

    return compare.main(argv)

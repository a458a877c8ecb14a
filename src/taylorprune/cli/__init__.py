"""Command line: each subcommand parses arguments, builds options and calls one library function.

One module per subcommand, each with SUMMARY, ``configure(parser)`` and ``run(args) -> exit
code``; COMMANDS lists them in the order --help shows. A new subcommand is a module and a row.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from types import ModuleType

from .. import __version__
from ..errors import InputError
from . import analyze, benchmark, export, prune, test, train

COMMANDS: dict[str, ModuleType] = {"train": train, "test": test, "analyze": analyze, "prune": prune,
                                   "export": export, "benchmark": benchmark}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        with _process_group():
            return COMMANDS[args.command].run(args)
    except InputError as err:
        if args.debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"taylorprune {args.command}: stopped by the user", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="taylorprune",
        description="Shrink a trained network to the smallest size that meets an accuracy floor.",
    )
    parser.add_argument("--version", action="version", version=f"taylorprune {__version__}")
    subs = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in COMMANDS.items():
        sub = subs.add_parser(name, help=module.SUMMARY, description=module.SUMMARY,
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        module.configure(sub)
        sub.add_argument("--debug", action="store_true", help="show full tracebacks")
    return parser


@contextlib.contextmanager
def _process_group() -> Iterator[None]:
    """Under torchrun (WORLD_SIZE > 1): join the group, and keep every rank but 0 off stdout."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        yield
        return
    from .. import distributed

    distributed.init_from_environment()
    quiet = None if distributed.is_main() else open(os.devnull, "w")  # noqa: SIM115  closed below
    try:
        with contextlib.redirect_stdout(quiet) if quiet else contextlib.nullcontext():
            yield
        # Leave together: a rank that closes its connections while a peer is still writing
        # can make gloo abort that peer. Skipped on an error, which torchrun handles.
        distributed.barrier()
    finally:
        if quiet:
            quiet.close()
        distributed.finish()


__all__ = ["COMMANDS", "build_parser", "main"]

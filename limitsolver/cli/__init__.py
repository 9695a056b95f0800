"""The ``limitsolver`` command line.

Usage::

    limitsolver converge                 # the headline convergence study on defaults
    limitsolver solve   [config.toml]    # solve the kernel limit
    limitsolver simulate [config.toml]   # simulate finite networks
    limitsolver poisson [config.toml]    # Poisson equation and asymptotic variance
    limitsolver memory  [config.toml]    # curse-of-memory studies

Every subcommand reads an optional TOML file (``limitsolver <cmd> --print-config``
prints the effective configuration as TOML that can be edited and read back),
accepts ``--set key.sub=value`` overrides, ``--seed`` and ``--out DIR``, writes
JSON, NPZ and PNG files atomically under ``--out``, and exits with status 2 and
a one-line reason on a bad configuration or option, before any work starts.
One TOML file may hold the tables of several subcommands.

A subcommand is a module of this package listed in :data:`SUBCOMMANDS` with

* ``NAME``, ``HELP`` and ``DEFAULTS`` (the documented configuration);
* ``EXAMPLE``, a ``--set`` assignment shown in its help (tests run it);
* ``add_arguments(parser)`` (optional) for its own options;
* ``check(config, args)`` (optional) validating the configuration without work;
* ``run(config, args)`` returning the exit status;
* ``RENAMED`` (optional), old dotted keys -> new ones, read with a warning.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
import warnings
from pathlib import Path

from .._docstrings import with_parameters
from ..errors import ConfigError, LimitSolverError
from ._config import load_config, to_toml

__all__ = ["main", "SUBCOMMANDS", "build_parser", "check_out"]

SUBCOMMANDS = ("converge", "solve", "fluctuations", "simulate", "poisson", "memory")
"""Modules of :mod:`limitsolver.cli` that are subcommands, in the order of ``--help``."""

subcommand_check = with_parameters("""
config : dict
    The effective configuration.
args : argparse.Namespace
    The parsed command line.
""")
"""Decorator documenting the parameters of a subcommand's ``check(config, args)``."""


def _load(name: str):
    return importlib.import_module(f"{__name__}.{name}")


def _modules() -> dict:
    out = {}
    for name in SUBCOMMANDS:
        try:
            out[name] = _load(name)
        except ModuleNotFoundError:  # a subcommand that is not installed
            continue
    return out


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (``prog: error: message``), status 2."""

    def error(self, message: str):  # noqa: D102
        self.exit(2, f"{self.prog}: error: {message}; see `{self.prog} --help`.\n")


def _integer(minimum: int):
    """An argparse type: an integer of at least ``minimum``."""
    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            what = "a non-negative integer" if minimum == 0 else f"an integer >= {minimum}"
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return value

    return convert


def add_jobs_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--jobs N`` (worker processes) to a subcommand that runs work in parallel.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser.
    """
    parser.add_argument("--jobs", type=_integer(1), default=None, metavar="N",
                        help="worker processes (default: number of cores)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one sub-parser per available subcommand.

    Returns
    -------
    argparse.ArgumentParser
        The ``limitsolver`` parser.
    """
    from .. import __version__

    parser = _Parser(
        prog="limitsolver",
        description="Kernel limits of RNNs trained online on ergodic data: solve, simulate, "
                    "measure convergence rates.",
    )
    parser.add_argument("--version", action="version", version=f"limitsolver {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, mod in _modules().items():
        example = getattr(mod, "EXAMPLE", "")
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP,
                           epilog=f"example: limitsolver {name} --set {example}" if example else None)
        p.add_argument("config", nargs="?", type=Path, help="TOML configuration file (optional)")
        p.add_argument("--set", dest="assignments", action="append", default=[],
                       metavar="KEY=VALUE",
                       help=f"override one configuration value, e.g. {example}" if example
                       else "override one configuration value")
        p.add_argument("--seed", type=_integer(0), default=0,
                       help="base random seed, a non-negative integer (default 0)")
        p.add_argument("--out", type=Path, default=Path("results") / name,
                       help=f"output directory (default results/{name})")
        p.add_argument("--quiet", action="store_true",
                       help="no progress bars (they are shown only on a terminal anyway)")
        p.add_argument("--print-config", action="store_true",
                       help="print the effective configuration as TOML and exit")
        if hasattr(mod, "add_arguments"):
            mod.add_arguments(p)
        p.set_defaults(_module=mod)
    return parser


def check_out(out: Path) -> None:
    """Check that ``out`` is, or can be created as, a writable directory (nothing is created).

    Parameters
    ----------
    out : Path
        The ``--out`` directory.

    Raises
    ------
    ConfigError
        If ``out`` (or the nearest existing parent) is a file or not writable.
    """
    out = Path(out)
    if out.exists():
        if not out.is_dir():
            raise ConfigError(f"`--out` {out} is a file; give a directory.")
        existing, what = out, "is not writable"
    else:
        existing = out.absolute().parent
        while not existing.exists():
            existing = existing.parent
        if not existing.is_dir():
            raise ConfigError(f"`--out` {out} cannot be created: {existing} is a file.")
        what = f"cannot be created: {existing} is not writable"
    try:  # access() says yes to root on a read-only file system: try a temporary file
        if not os.access(existing, os.W_OK | os.X_OK):
            raise PermissionError(existing)
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError:
        raise ConfigError(f"`--out` {out} {what}; choose another directory.") from None


def _others(modules: dict, name: str) -> dict[str, str]:
    """Top-level keys of the other subcommands -> the subcommand they belong to."""
    out: dict[str, str] = {}
    for other, mod in modules.items():
        if other != name:
            for key in mod.DEFAULTS:
                out.setdefault(key, other)
    return out


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``limitsolver`` command.

    Parameters
    ----------
    argv : list of str, optional
        The arguments (default ``sys.argv[1:]``).

    Returns
    -------
    int
        Exit status: 0 on success, 1 when a check failed, 2 for a bad
        configuration or option (one line on standard error), 130 on Ctrl-C.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed its usage line and message
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help()
        return 1
    mod = args._module
    if hasattr(args, "jobs") and args.jobs is None:
        args.jobs = os.cpu_count() or 1
    args.progress = False if args.quiet else None  # None: bars only on a terminal
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default", DeprecationWarning)
            config = load_config(mod.DEFAULTS, args.config, args.assignments,
                                 others=_others(_modules(), args.command),
                                 renamed=getattr(mod, "RENAMED", None))
        check = getattr(mod, "check", None)
        if check is not None:
            check(config, args)
        if args.print_config:
            print(to_toml(config), end="")
            return 0
        check_out(args.out)
        return int(mod.run(config, args) or 0)
    except LimitSolverError as exc:
        print(f"limitsolver {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"limitsolver {args.command}: interrupted; finished results are in {args.out}",
              file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of stdout went away (`| head`): stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes at exit
        return 141


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

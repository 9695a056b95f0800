"""The ``limitsolver`` command line.

Usage::

    limitsolver converge                 # the headline convergence study on defaults
    limitsolver solve   [config.toml]    # solve the kernel limit
    limitsolver simulate [config.toml]   # simulate finite networks
    limitsolver poisson [config.toml]    # Poisson equation and asymptotic variance
    limitsolver memory  [config.toml]    # curse-of-memory studies

Every subcommand reads an optional TOML file (``limitsolver <cmd> --print-config``
shows the documented defaults), accepts ``--set key.sub=value`` overrides,
``--seed``, ``--jobs`` and ``--out DIR``, writes JSON, NPZ and PNG files
atomically under ``--out``, and exits with status 2 and a one-line reason on a
bad configuration.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

from ..errors import LimitSolverError
from ._config import load_config

__all__ = ["main", "SUBCOMMANDS"]

SUBCOMMANDS = ("converge", "solve", "simulate", "poisson", "memory")


def _load(name: str):
    return importlib.import_module(f"{__name__}.{name}")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one sub-parser per available subcommand."""
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="limitsolver",
        description="Kernel limits of RNNs trained online on ergodic data: solve, simulate, "
                    "measure convergence rates.",
    )
    parser.add_argument("--version", action="version", version=f"limitsolver {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            mod = _load(name)
        except ModuleNotFoundError:
            continue
        p = sub.add_parser(name, help=mod.HELP, description=mod.HELP)
        p.add_argument("config", nargs="?", type=Path, help="TOML configuration file (optional)")
        p.add_argument("--set", dest="assignments", action="append", default=[],
                       metavar="KEY=VALUE", help="override one configuration value, e.g. network.beta=0.6")
        p.add_argument("--seed", type=int, default=0, help="base random seed (default 0)")
        p.add_argument("--jobs", type=int, default=None,
                       help="worker processes (default: number of cores)")
        p.add_argument("--out", type=Path, default=Path("results") / name,
                       help=f"output directory (default results/{name})")
        p.add_argument("--quiet", action="store_true", help="no progress bars")
        p.add_argument("--print-config", action="store_true",
                       help="print the effective configuration as JSON and exit")
        mod.add_arguments(p)
        p.set_defaults(_module=mod)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``limitsolver`` command; returns the exit status."""
    import os

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 1
    mod = args._module
    if args.jobs is None:
        args.jobs = os.cpu_count() or 1
    if args.jobs < 1:
        print(f"limitsolver {args.command}: error: `--jobs` must be at least 1.", file=sys.stderr)
        return 2
    try:
        config = load_config(mod.DEFAULTS, args.config, args.assignments)
        if args.print_config:
            print(json.dumps(config, indent=2))
            return 0
        return int(mod.run(config, args) or 0)
    except LimitSolverError as exc:
        print(f"limitsolver {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"limitsolver {args.command}: interrupted; finished results are in {args.out}",
              file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

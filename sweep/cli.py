"""``sweep`` command line (``docs/design.md#cli``).

Exit status 0 on success, 2 on bad input (one line on stderr naming the field and the
value), 1 on any other failure.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from pathlib import Path

from . import MAX_SEED, __version__
from .cluster_config import CONNECT_TIMEOUT, DASHBOARD, KINDS, MAX_WORKERS
from .errors import ClusterError, InputError, OneLineParser, RunError, sigterm_raises, stopped


def _int_between(minimum, maximum=None):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"must be at most {maximum}, got {value}")
        return value

    return parse


def _positive_int(name, maximum=None):
    return _int_between(1, maximum)


_seed = _int_between(0, MAX_SEED)  # a NetCDF int64 attribute


def _out_path(text):
    """A file path the dataset can be written to: not a directory, under a directory (or one
    that can be made: no part of the way is a file), writable where it exists, with a name
    the filesystem takes."""
    path = Path(text)
    shown = repr(text) if len(text) <= 60 else repr(text[:60]) + "..."
    try:
        path.exists()  # a name too long for the filesystem raises here, not only later
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"{shown}: {exc.strerror}") from None
    except ValueError as exc:  # an embedded NUL
        raise argparse.ArgumentTypeError(f"{shown}: {exc}") from None
    if not text or path.is_dir():
        example = f"{text.rstrip('/')}/NAME.nc"
        raise argparse.ArgumentTypeError(f"{text!r} is a directory; give a file path such as {example}")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise argparse.ArgumentTypeError(f"{text!r}: {parent} is a file, not a directory")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise argparse.ArgumentTypeError(f"{text!r}: {parent} is not writable")
            break
    return path


def _dashboard(text):
    """``HOST:PORT`` (or ``:PORT``, every interface) with a port in 0..65535 (0: any free
    port) and a host this machine has: checked here, before a lock, a manifest or a kernel
    compilation, and by ``--dry-run`` too. distributed reads the address by splitting it at
    ``:`` and ``,``: an IPv6 host, or a list, cannot be given to it."""
    host, sep, port = text.rpartition(":")
    if not sep or "," in text:
        raise argparse.ArgumentTypeError(f"must be HOST:PORT or :PORT, got {text!r}")
    if ":" in host:
        raise argparse.ArgumentTypeError(
            f"{text!r}: the dashboard takes an IPv4 address or a host name (:PORT listens on every interface)"
        )
    try:
        number = int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port must be an integer in 0..65535, got {port!r}") from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"port must be in 0..65535, got {number}")
    if host:
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.bind((host, 0))  # a free port of that address: is the address this machine's?
        except OSError as exc:
            why = f"host {host!r} is not an address of this machine ({exc.strerror})"
            raise argparse.ArgumentTypeError(why) from None
    return text


def _open_to_network(address):
    """Whether a dashboard address listens on every interface."""
    return address.rpartition(":")[0] in ("", "0.0.0.0")


def build_parser() -> OneLineParser:
    from . import structures  # the n0 command's choices are its registry's

    p = OneLineParser(prog="sweep", description="Phase-transition sweeps of PGD for learning ReLUs.")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    r = sub.add_parser("run", help="run (or resume) a sweep from a TOML config")
    r.add_argument("config", type=Path, help="sweep config (TOML)")
    r.add_argument("--cluster", help=f"{' | '.join(KINDS)} | tcp://HOST:PORT (default: config [cluster].kind or local)")
    r.add_argument(
        "--workers",
        type=_positive_int("--workers", MAX_WORKERS),
        help=f"worker processes (local) or batch jobs ({', '.join(KINDS[1:])})",
    )
    r.add_argument("--out", type=_out_path, help="output NetCDF (default: the config's path with .nc)")
    r.add_argument("--batch-size", type=_positive_int("--batch-size"), help="trials per task (default: derived)")
    r.add_argument(
        "--dry-run", action="store_true", help="validate, print the plan (and the SLURM job script), submit nothing"
    )
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.add_argument(
        "--dashboard",
        type=_dashboard,
        default=DASHBOARD,
        help=f"HOST:PORT of the scheduler's dashboard (default {DASHBOARD}: this machine only; :PORT: every interface)",
    )
    r.add_argument(
        "--connect-timeout",
        type=_int_between(1, 3600),
        default=CONNECT_TIMEOUT,
        metavar="SECONDS",
        help=f"how long to wait for a scheduler given by address (default {CONNECT_TIMEOUT})",
    )

    r.add_argument("--keep-parts", action="store_true", help="keep PATH.nc.parts after the dataset is written")
    r.add_argument(
        "--overwrite", action="store_true", help="replace an existing PATH.nc made by another config or code"
    )

    rs = sub.add_parser("resume", help="finish the sweep whose parts folder is given")
    rs.add_argument("parts", type=Path, help="PATH.nc.parts folder")
    rs.add_argument("--cluster")
    rs.add_argument("--workers", type=_positive_int("--workers", MAX_WORKERS))
    rs.add_argument("--no-progress", action="store_true")
    rs.add_argument("--dashboard", type=_dashboard, default=DASHBOARD)
    rs.add_argument("--keep-parts", action="store_true")
    rs.add_argument("--connect-timeout", type=_int_between(1, 3600), default=CONNECT_TIMEOUT, metavar="SECONDS")

    st = sub.add_parser("status", help="tasks done / total of a sweep's parts folder")
    st.add_argument("parts", type=Path)

    f = sub.add_parser("figure1", help="the paper's Figure 1 experiment (d=1000, s=20, n=625, l0)")
    f.add_argument("--trials", type=_positive_int("--trials"), default=100)
    f.add_argument("--iterations", type=_positive_int("--iterations"), default=20)
    f.add_argument("--seed", type=_seed, default=2017)
    f.add_argument("--out", type=_out_path, default=Path("data/figure1.nc"))

    n = sub.add_parser("n0", help="the sample-size threshold n0 for a structured w* in R^d")
    n.add_argument("--s", type=_positive_int("--s"), required=True, help="nonzeros, nonzero groups or rank")
    n.add_argument("--d", type=_positive_int("--d"), required=True)
    n.add_argument("--method", choices=structures.methods(), default="approx")
    n.add_argument(
        "--structure",
        choices=list(structures.STRUCTURES),
        default=structures.DEFAULT,
        help="of w*: s-sparse, s groups of --group-size, or rank s as a p x p matrix (d = p^2)",
    )
    n.add_argument("--group-size", type=_positive_int("--group-size"), default=1)
    n.add_argument("--seed", type=_seed, default=0, help="seed of a Monte-Carlo estimate (l0-mc, lowrank l1)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = None
    try:
        with sigterm_raises():
            args = build_parser().parse_args(argv)
            return _dispatch(args)
    except InputError as exc:
        print(f"sweep: error: {exc}", file=sys.stderr)
        return 2
    except RunError as exc:
        print(f"sweep: error: {exc}; finished tasks are kept, rerun to resume", file=sys.stderr)
        return 1
    except ClusterError as exc:
        print(f"sweep: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        how, status = stopped(exc)
        if args is not None and args.command in ("run", "resume"):
            how += f": {_kept(args)}; rerun `sweep run` or `sweep resume` to finish"
        print(f"sweep: {how}", file=sys.stderr)
        return status


def _kept(args):
    """What a stopped ``run`` or ``resume`` kept, counted in its parts folder."""
    from . import runner
    from .parts import parts_path

    path = args.parts if args.command == "resume" else parts_path(args.out or args.config.with_suffix(".nc"))
    return runner.kept(path)


def _dispatch(args):
    if args.command == "n0":
        return _n0(args)
    if args.command == "figure1":
        return _figure1(args)
    if args.command in ("run", "resume") and _open_to_network(args.dashboard):
        print(
            f"sweep: warning: --dashboard {args.dashboard} listens on every interface: the dashboard is open to the "
            "network",
            file=sys.stderr,
        )
    if args.command == "run":
        from . import config

        cfg = config.load(args.config)  # a bad config is refused before distributed is imported
        from . import runner

        return runner.cli_run(args, cfg)
    from . import runner  # Dask is imported only for the commands that need it

    if args.command == "resume":
        return runner.cli_resume(args)
    if args.command == "status":
        return runner.cli_status(args)
    raise AssertionError(args.command)


def _n0(args):
    from . import structures

    kind, g = structures.get(args.structure), args.group_size
    if args.method not in kind.n0:
        raise InputError(
            "--method", args.method, f"is not an n0 method for {kind.name} w* (known: {', '.join(kind.n0)})"
        )
    why = kind.misfit(args.d, g)  # a group size that does not divide d; a d that is not a square
    if why:
        raise InputError(f"--{kind.blames.replace('_', '-')}", {"d": args.d, "group_size": g}[kind.blames], why)
    top = kind.limit(args.d, g)
    if args.s >= top:
        raise InputError("--s", args.s, f"must be below {top} ({kind.name} w*: s counts {kind.counts})")
    value, se = structures.n0(kind.name, args.s, args.d, args.method, group_size=g, seed=args.seed)
    head = (
        f"n0 ({args.method}, {kind.name}, s={args.s}, d={args.d}{kind.where(args.d, g)})"
        if kind.name != structures.DEFAULT
        else f"n0 ({args.method}, s={args.s}, d={args.d})"
    )
    if se:
        print(f"{head} = {value:.4f} ± {se:.4f} (standard error)")
    else:
        print(f"{head} = {value:.6f}")
    return 0


def _figure1(args):
    from . import dataset, figure1

    if args.out.suffix != ".nc":
        raise InputError("--out", str(args.out), "must end in .nc")
    ds = figure1.run_figure1(trials=args.trials, iterations=args.iterations, seed=args.seed)
    dataset.write_dataset(ds, args.out)
    last = ds.trace.isel(iteration=-1)
    for m in ds.model.values:
        med = float(last.sel(model=m).median())
        above = int((last.sel(model=m) > 1e-4).sum())
        print(f"{m:>6}: median error at t={args.iterations}: {med:.2e}; trials above 1e-4: {above}/{args.trials}")
    print(f"wrote {args.out}")
    return 0

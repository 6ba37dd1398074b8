"""``analysis`` command line: figures and reports from datasets (``docs/design.md#cli``).

Exit status 0 on success, 2 on bad input (one line naming the field and the value),
1 on any other failure.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from sweep import __version__
from sweep.errors import InputError, OneLineParser, sigterm_raises, stopped

from .report import FORMATS


def build_parser() -> OneLineParser:
    p = OneLineParser(prog="analysis", description="Phase-transition figures and reports from relu-phase datasets.")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    for name, help_ in (
        ("heatmap", "phase-transition heatmaps with the n0 lines"),
        ("figure1", "the paper's Figure 1 from a `sweep figure1` dataset"),
        ("report", "every figure and report.md with the n50/n0 table"),
    ):
        c = sub.add_parser(name, help=help_)
        c.add_argument("dataset", type=Path)
        c.add_argument("--out", type=Path, default=Path("figures"), help="output folder (default figures/)")
        c.add_argument("--format", choices=FORMATS, default="png")
        if name == "report":
            c.add_argument("--figure1", type=Path, help="also draw Figure 1 from this `sweep figure1` dataset")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    started = time.time()
    try:
        with sigterm_raises():
            import matplotlib  # seconds of imports: a Ctrl-C here is the same one line

            matplotlib.use("Agg")
            from . import io, plots, report

            paths = _draw(args, io, plots, report)
    except InputError as exc:
        print(f"analysis: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # each figure is written whole (or not at all) before the next
        how, status = stopped(exc)
        written = [p for p in args.out.glob("*") if p.stat().st_mtime >= started] if args.out.is_dir() else []
        kept = f"{args.out} holds the {len(written)} files written so far" if written else "nothing written yet"
        print(f"analysis: {how}; {kept}; rerun to finish", file=sys.stderr)
        return status
    for path in paths:
        print(path)
    return 0


def _draw(args, io, plots, report):
    if args.command == "figure1":
        return report.save_figures(plots.plot_figure1(io.open_figure1(args.dataset)), args.out, args.format)
    ds = io.open_sweep(args.dataset)
    if args.command == "heatmap":
        return report.heatmaps(ds, args.out, args.format)
    if args.figure1 is not None:
        io.open_figure1(args.figure1)  # check before drawing anything
    return report.report(ds, args.out, args.format, args.figure1)

"""``isxt experiment NAME``: reproduce one of the paper's experiments (see docs/experiments.md)."""

from __future__ import annotations

from pathlib import Path

HELP = "run one of the paper's experiments (writes NAME.csv, NAME.png, NAME.md)"


def register(sub):
    from ..experiments import names

    p = sub.add_parser(
        "experiment",
        help=HELP,
        description=HELP + ". Names: " + ", ".join(names()) + ". The default size runs in minutes on a laptop; "
        "--size paper uses the paper's sizes (6-25 min each on 2 CPU cores).",
    )
    p.add_argument("name", metavar="NAME", help="experiment: " + ", ".join(names()))
    p.add_argument("--size", default="small", help="test | small (default) | paper")
    p.add_argument("--out", "-o", default="experiments_out", help="output directory (default: experiments_out)")
    p.add_argument("--force", action="store_true", help="overwrite existing outputs")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--scheduler", metavar="local[:N]|ADDRESS",
                   help="run the sweep's independent configurations as Dask tasks (see docs/scaling.md)")
    p.set_defaults(func=run)


def run(args):
    from ..experiments import run as run_experiment

    def experiment():
        return run_experiment(args.name, size=args.size, out_dir=Path(args.out), progress=not args.no_progress,
                              force=args.force)

    if getattr(args, "scheduler", None):
        from ..distributed.cluster import open_client
        from ..distributed.sweep import use_client

        with open_client(args.scheduler) as client, use_client(client):
            result = experiment()
    else:
        result = experiment()
    claims = result.get("claims", {})
    for name, c in claims.items():
        print(f"{'PASS' if c['passed'] else 'FAIL'}  {name}: {c['detail']}")
    seconds = result.get("seconds")
    took = f" in {seconds:.1f} s" if isinstance(seconds, float) else ""
    print(f"wrote {args.name}.csv, {args.name}.png, {args.name}.md to {args.out}/{took}")
    failed = [name for name, c in claims.items() if not c["passed"]]
    if failed:  # the brief: a claim that fails makes its command exit non-zero
        print(f"{len(failed)} of {len(claims)} claims FAILED: {', '.join(failed)}")
        return 1
    return 0

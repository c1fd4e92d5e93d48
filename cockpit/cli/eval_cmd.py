"""`cockpit eval summary` and `cockpit eval diff`: eval statistics as a table or JSON (SPEC §4b)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from cockpit.cli.common import add_db_arg, db_path, existing_paths
from cockpit.cli.errors import CliError
from cockpit.cli.output import print_table
from cockpit.evals.errors import EvalLoadError
from cockpit.evals.formats import FORMATS

if TYPE_CHECKING:  # the eval core loads when a command runs, not at every `cockpit` start
    from cockpit.evals.model import EvalRun
    from cockpit.evals.stats.paired import PairedDiff
    from cockpit.evals.summary import EvalSummary


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="eval statistics: summary with intervals, paired diff")
    eval_sub = p.add_subparsers(dest="eval_command", metavar="SUBCOMMAND")

    s = eval_sub.add_parser("summary", help="metrics with intervals, slices, calibration")
    s.add_argument("files", nargs="+", metavar="FILE")
    s.add_argument("--by", action="append", metavar="FIELD",
                   help="metadata field to slice by (repeat or comma-separate; default: every "
                        "categorical field)")
    s.add_argument("--cluster", metavar="FIELD",
                   help="metadata field whose samples are not independent (cluster-robust SE)")
    _common(s)
    s.add_argument("--bootstrap", action="store_true",
                   help="percentile bootstrap intervals instead of Wilson / t")
    s.set_defaults(func=cmd_summary)

    d = eval_sub.add_parser("diff", help="paired comparison of two runs on shared items")
    d.add_argument("a", metavar="A")
    d.add_argument("b", metavar="B")
    _common(d)
    d.add_argument("--show", type=int, default=10, metavar="N",
                   help="regressed / fixed ids listed in the table (default 10)")
    d.set_defaults(func=cmd_diff)
    p.set_defaults(func=lambda args: _usage(p))


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="one JSON object per eval (SPEC §4b)")
    p.add_argument("--map", metavar="ROLE=COL,...",
                   help="column mapping for generic tables, e.g. input=question,target=gold")
    p.add_argument("--format", dest="eval_format", choices=FORMATS, help="skip format detection")
    add_db_arg(p)
    p.add_argument("--no-store", action="store_true", help="do not write the evals to the db")


def _usage(p: argparse.ArgumentParser) -> int:
    p.print_help(sys.stderr)
    return 2


def _load(paths: list[str], args: argparse.Namespace) -> list[EvalRun]:
    from cockpit.evals.loaders import load_evals, parse_mapping

    try:
        mapping = parse_mapping(args.map)
        runs: list[EvalRun] = []
        for path in existing_paths(paths):
            runs.extend(load_evals(path, mapping or None, args.eval_format))
        return runs
    except EvalLoadError as err:
        raise CliError(str(err)) from None


def _store(runs: list[EvalRun], args: argparse.Namespace) -> None:
    if args.no_store:
        return
    from cockpit.evals.store import store_eval
    from cockpit.store.db import StoreError
    from cockpit.store.writer import StoreWriter

    path = db_path(args)
    try:
        with StoreWriter(path) as writer:
            for run in runs:
                store_eval(writer, run)
            writer.flush(timeout=120)
    except (StoreError, TimeoutError) as err:
        print(f"cockpit: evals not stored: {err}", file=sys.stderr)


def _split_fields(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [f.strip() for v in values for f in v.split(",") if f.strip()]


def cmd_summary(args: argparse.Namespace) -> int:
    from cockpit.evals.summary import summarize

    runs = _load(args.files, args)
    by = _split_fields(args.by)
    summaries = []
    for run in runs:
        try:
            summaries.append(summarize(run, by=by, cluster=args.cluster,
                                       interval="bootstrap" if args.bootstrap else "auto"))
        except KeyError as err:
            fields = ", ".join(run.table.fields()[:20]) or "none"
            raise CliError(f"{run.path} has no metadata field {err.args[0]!r}; "
                           f"fields: {fields}") from None
    out = sys.stdout
    for i, summary in enumerate(summaries):
        if args.json:
            out.write(json.dumps(summary.to_json(), allow_nan=False, default=str) + "\n")
        else:
            if i:
                out.write("\n")
            print_summary(summary, out)
    out.flush()
    _store(runs, args)
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from cockpit.evals.stats.paired import paired_diff

    a_runs = _load([args.a], args)
    b_runs = a_runs if Path(args.a) == Path(args.b) else _load([args.b], args)
    if a_runs is b_runs and len(a_runs) == 2:
        a, b = a_runs
    else:
        a, b = _one(a_runs, args.a), _one(b_runs, args.b)
    diff = paired_diff(a, b)
    if diff.n_shared == 0:
        raise CliError(f"{args.a} and {args.b} share no graded sample ids; nothing to compare")
    if args.json:
        sys.stdout.write(json.dumps(diff_json(diff), allow_nan=False) + "\n")
    else:
        print_diff(diff, args.show, sys.stdout)
    _store([a, b] if a_runs is not b_runs else a_runs, args)
    return 0


def _one(runs: list[EvalRun], path: str) -> EvalRun:
    if len(runs) != 1:
        names = ", ".join(r.name for r in runs[:6])
        raise CliError(f"{path} holds {len(runs)} evals ({names}); pass one file per side "
                       "(or the same file twice when it holds exactly two)")
    return runs[0]


# ---- JSON ---------------------------------------------------------------------------
def _num(x: float | None) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def diff_json(d: PairedDiff) -> dict[str, Any]:
    from cockpit.evals.stats.paired import ALPHA, POWER

    return {
        "a": d.a, "b": d.b, "n_shared": d.n_shared, "n_only_a": d.n_only_a,
        "n_only_b": d.n_only_b, "metric": d.metric, "a_value": _num(d.a_value),
        "b_value": _num(d.b_value),
        "difference": {"value": _num(d.difference.value),
                       "ci": [_num(d.difference.low), _num(d.difference.high)],
                       "method": d.difference.method, "se": _num(d.difference.se)},
        "test": d.test, "mcnemar_p": _num(d.p_value), "significant": d.significant,
        "alpha": ALPHA,
        "mde": {"value": _num(d.mde), "power": POWER, "alpha": ALPHA},
        "buckets": {"regressed": len(d.regressed), "fixed": len(d.fixed),
                    "both_wrong": len(d.both_wrong), "both_right": d.both_right},
        "regressed": d.regressed, "fixed": d.fixed, "both_wrong": d.both_wrong,
        "notes": d.notes,
    }


# ---- tables -------------------------------------------------------------------------
def _f(x: float | None, digits: int = 3) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def _ci(low: float | None, high: float | None) -> str:
    return f"[{_f(low)}, {_f(high)}]"


def _p(p: float | None) -> str:
    if p is None or not math.isfinite(p):
        return "-"
    return f"{p:.2g}" if p < 0.001 else f"{p:.3f}"


def print_summary(s: EvalSummary, out: TextIO) -> None:
    run = s.run
    model = f", model {run.model}" if run.model else ""
    out.write(f"{run.name}  ({run.format}{model}; {s.n} samples, {s.n_scored} scored)\n")
    out.write(f"  {run.path}\n")
    if s.cluster:
        out.write(f"  clustered by {s.cluster!r} ({s.n_clusters} clusters)\n")
    rows = [[name, _f(e.value), _ci(e.low, e.high), str(e.n), e.method]
            for name, e in s.metrics.items()]
    if rows:
        out.write("\n")
        print_table(["metric", "value", "95% CI", "n", "method"], rows, out)
    cal = s.calibration
    if cal is not None:
        out.write(f"\ncalibration: ECE {_f(cal.ece)} ({len(cal.bins)} equal-mass bins), "
                  f"Brier {_f(cal.brier)}, mean confidence {_f(cal.mean_confidence)} vs "
                  f"accuracy {_f(cal.accuracy)}, n={cal.n}\n")
        bin_rows = [[f"{_f(b.conf_low, 2)}-{_f(b.conf_high, 2)}", _f(b.mean_confidence),
                     _f(b.accuracy), _ci(b.ci[0], b.ci[1]), str(b.n)] for b in cal.bins]
        print_table(["confidence", "mean conf", "accuracy", "95% CI", "n"], bin_rows, out)
    if s.slices:
        out.write(f"\nslices by {s.primary} (each value vs the rest, one-sided; "
                  f"Benjamini-Hochberg across {len(s.slices)} slices, alpha 0.05)\n")
        slice_rows = []
        for sl in sorted(s.slices, key=lambda x: (x.field, x.gap if math.isfinite(x.gap) else 0)):
            slice_rows.append([
                sl.field, sl.value, str(sl.n), _f(sl.estimate.value),
                _ci(sl.estimate.low, sl.estimate.high),
                _f(sl.rest.value) if sl.rest else "-", _signed(sl.gap), _p(sl.p_adjusted),
                "WORSE" if sl.significantly_worse else "",
            ])
        print_table(["field", "value", "n", s.primary or "metric", "95% CI", "rest", "gap",
                     "p_adj", ""], slice_rows, out)
    worse = s.worse_slices
    if worse:
        out.write("\nsignificantly worse: " + "; ".join(
            f"{w.field}={w.value} ({_f(w.estimate.value)} vs {_f(w.rest.value if w.rest else None)}"
            f", p_adj {_p(w.p_adjusted)})" for w in worse) + "\n")
    elif s.slices:
        out.write("\nno slice is significantly worse than the rest\n")
    for note in s.notes:
        out.write(f"note: {note}\n")


def _signed(x: float) -> str:
    return "-" if not math.isfinite(x) else f"{x:+.3f}"


def print_diff(d: PairedDiff, show: int, out: TextIO) -> None:
    from cockpit.evals.stats.paired import ALPHA, POWER

    out.write(f"A: {d.a}\nB: {d.b}\n")
    out.write(f"{d.n_shared} shared items ({d.metric}); difference is B - A\n\n")
    rows = [
        ["A", _f(d.a_value), "", ""],
        ["B", _f(d.b_value), "", ""],
        ["B - A", _signed(d.difference.value), _ci(d.difference.low, d.difference.high),
         d.difference.method],
    ]
    print_table([d.metric, "value", "95% CI", "method"], rows, out)
    verdict = "significant" if d.significant else "not significant"
    out.write(f"\n{d.test}: p = {_p(d.p_value)} ({verdict} at alpha {ALPHA})\n")
    out.write(f"minimum detectable effect at {POWER:.0%} power: {_f(d.mde)} "
              f"(a smaller true change would usually go unseen on {d.n_shared} items)\n\n")
    binary = d.metric == "accuracy"
    buckets = [["regressed (A right, B wrong)" if binary else "regressed (B scored lower)",
                str(len(d.regressed)), _ids(d.regressed, show)],
               ["fixed (A wrong, B right)" if binary else "fixed (B scored higher)",
                str(len(d.fixed)), _ids(d.fixed, show)]]
    if binary:
        buckets += [["both wrong", str(len(d.both_wrong)), _ids(d.both_wrong, show)],
                    ["both right", str(d.both_right), ""]]
    print_table(["bucket", "n", "ids"], buckets, out)
    for note in d.notes:
        out.write(f"note: {note}\n")


def _ids(ids: list[str], show: int) -> str:
    head = ", ".join(ids[:show])
    return head + (f", ... (+{len(ids) - show})" if len(ids) > show else "")

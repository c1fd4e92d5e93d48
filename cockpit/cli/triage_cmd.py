"""`cockpit triage FILE`: why the model fails, as categories with counts, intervals and
example ids (SPEC §4b), with an LLM endpoint or offline heuristics."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any, TextIO

from cockpit.cli.common import add_db_arg, db_path, existing_paths
from cockpit.cli.errors import CliError
from cockpit.cli.output import print_table
from cockpit.evals.errors import EvalLoadError
from cockpit.evals.formats import FORMATS

if TYPE_CHECKING:  # the eval core loads when the command runs, not at every `cockpit` start
    from cockpit.evals.model import EvalRun

DEFAULT_MAX_COST = 1.0
EXIT_ENDPOINT = 1


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("triage", help="LLM-assisted failure triage of an eval run",
                       description="Group an eval's failures into categories with counts, "
                                   "intervals, example ids and over-represented slices.")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--json", action="store_true", help="one JSON object (SPEC §4b)")
    p.add_argument("--base-url", metavar="URL",
                   help="OpenAI-compatible endpoint (default: $OPENAI_BASE_URL, else OpenAI "
                        "when $OPENAI_API_KEY is set)")
    p.add_argument("--model", metavar="NAME", help="model name (default: $COCKPIT_LLM_MODEL)")
    p.add_argument("--offline", action="store_true",
                   help="no LLM: first pass, slice finder, language heuristics, text clusters")
    p.add_argument("--max-cost", type=float, default=DEFAULT_MAX_COST, metavar="USD",
                   help=f"hard spending cap for this run (default {DEFAULT_MAX_COST:g})")
    p.add_argument("--price-in", type=float, metavar="USD", help="input price per 1M tokens")
    p.add_argument("--price-out", type=float, metavar="USD", help="output price per 1M tokens")
    p.add_argument("--yes", action="store_true",
                   help="consent to sending redacted eval text to the endpoint")
    p.add_argument("--timeout", type=float, default=60.0, metavar="SEC",
                   help="seconds to wait for one reply (default 60)")
    p.add_argument("--concurrency", type=int, default=4, metavar="N",
                   help="requests in flight at once (default 4)")
    p.add_argument("--batch-size", type=int, default=20, metavar="N",
                   help="failures per labelling request (default 20)")
    p.add_argument("--max-sample", type=int, default=200, metavar="N",
                   help="failures the model reads to propose categories (default 200)")
    p.add_argument("--ignore-field", action="append", metavar="FIELD",
                   help="metadata field never sliced or sent, e.g. ground-truth labels "
                        "(repeat or comma-separate)")
    p.add_argument("--map", metavar="ROLE=COL,...",
                   help="column mapping for generic tables, e.g. input=question,target=gold")
    p.add_argument("--format", dest="eval_format", choices=FORMATS, help="skip format detection")
    p.add_argument("--eval", dest="eval_name", metavar="NAME",
                   help="the eval to triage when FILE holds several (a promptfoo export's "
                        "provider, an lm-eval task, or the full name `eval summary` shows)")
    add_db_arg(p)
    p.add_argument("--no-store", action="store_true",
                   help="do not write labels, the eval or the response cache to the db")
    p.set_defaults(func=cmd_triage)


def _load(args: argparse.Namespace) -> EvalRun:
    from cockpit.evals.loaders import load_eval, parse_mapping

    try:
        path = existing_paths([args.file])[0]
        run = load_eval(path, parse_mapping(args.map) or None, args.eval_format, args.eval_name)
    except EvalLoadError as err:
        raise CliError(str(err)) from None
    if run.results_only:
        raise CliError(f"{run.name} in {args.file} holds results only, no samples: nothing "
                       "to triage (lm-eval: rerun with --log_samples)")
    return run


def _positive(args: argparse.Namespace) -> None:
    for name in ("max_cost", "timeout", "concurrency", "batch_size", "max_sample"):
        value = getattr(args, name)
        if value is None or not value > 0:
            raise CliError(f"--{name.replace('_', '-')} must be positive")
    for name in ("price_in", "price_out"):
        value = getattr(args, name)
        if value is not None and not value >= 0:
            raise CliError(f"--{name.replace('_', '-')} must not be negative")


def _fields(values: list[str] | None) -> tuple[str, ...]:
    return tuple(f.strip() for v in values or [] for f in v.split(",") if f.strip())


class _Progress:
    """One updating line on stderr, only when stderr is a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.enabled:
            sys.stderr.write(f"\r  {stage.replace('_', ' ')}: {done}/{total}   ")
            sys.stderr.flush()

    def end(self) -> None:
        if self.enabled:
            sys.stderr.write("\r" + " " * 40 + "\r")


def _consent(base_url: str, args: argparse.Namespace, what: str) -> None:
    from cockpit.triage.consent import grant_consent, has_consent

    if has_consent(base_url):
        return
    if args.yes:
        grant_consent(base_url)
        return
    if not sys.stdin.isatty():
        raise CliError(f"sending eval text to {base_url} needs your consent once: rerun with "
                       "--yes, or in a terminal to answer the prompt")
    sys.stderr.write(f"{what}\nSend redacted eval samples to {base_url}? "
                     "This is asked once per endpoint. [y/N] ")
    sys.stderr.flush()
    answer = sys.stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        raise CliError(f"not sent: no consent for {base_url}")
    grant_consent(base_url)


def cmd_triage(args: argparse.Namespace) -> int:
    from cockpit.triage.endpoint import EndpointError, resolve_endpoint
    from cockpit.triage.pipeline import Triage, TriageConfig
    from cockpit.triage.redact import Redactor

    _positive(args)
    run = _load(args)
    endpoint = None
    notes: list[str] = []
    if not args.offline:
        try:
            endpoint = resolve_endpoint(args.base_url, args.model)
        except EndpointError as err:
            raise CliError(str(err)) from None
        if endpoint is None:
            notes.append("no endpoint configured (--base-url, OPENAI_BASE_URL or "
                         "OPENAI_API_KEY): ran offline")
    config = TriageConfig(max_sample=args.max_sample, batch_size=args.batch_size,
                          concurrency=args.concurrency, exclude_fields=_fields(args.ignore_field))
    progress = _Progress(sys.stderr.isatty() and not args.json)
    redactor = Redactor([endpoint.api_key] if endpoint is not None else [])
    triage = Triage(run, config, progress, redactor=redactor)
    triage.prepare()
    writer = None
    try:
        client = None
        if endpoint is not None:
            client, writer = _client(triage, endpoint, args)
        result = _run(triage, client)
        progress.end()
        result.notes[:0] = notes
        if args.json:
            sys.stdout.write(json.dumps(result.to_json(), allow_nan=False, default=str) + "\n")
        else:
            print_result(result, sys.stdout)
        sys.stdout.flush()
        _store(run, result, args, writer)
    finally:
        progress.end()
        if writer is not None:
            writer.close()
    return 0


def _client(triage: Any, endpoint: Any, args: argparse.Namespace) -> tuple[Any, Any]:
    from cockpit.triage.cache import DuckDbCache, MemoryCache, ResponseCache
    from cockpit.triage.cost import price_for
    from cockpit.triage.llm import make_client

    price = price_for(endpoint.model, endpoint.base_url, args.price_in, args.price_out)
    estimate = triage.estimate(price)
    n = len(triage.prepare().model_errors)
    what = (f"cockpit: triage of {n} model-error failures with {endpoint.model} at "
            f"{endpoint.base_url}: {estimate.sentence()}; hard cap ${args.max_cost:g}.")
    print(what, file=sys.stderr)
    if n:
        _consent(endpoint.base_url, args, "")
    writer = None
    cache: ResponseCache = MemoryCache()
    if not args.no_store:
        from cockpit.store.db import StoreError
        from cockpit.store.writer import StoreWriter

        try:
            writer = StoreWriter(db_path(args))
            cache = DuckDbCache(writer)
        except StoreError as err:
            print(f"cockpit: responses not cached: {err}", file=sys.stderr)
    return make_client(endpoint, args.max_cost, price, cache, args.timeout), writer


def _run(triage: Any, client: Any) -> Any:
    from cockpit.triage.llm import LlmError

    try:
        return triage.run(client)
    except LlmError as err:
        raise CliError(str(err), code=EXIT_ENDPOINT) from None


def _store(run: EvalRun, result: Any, args: argparse.Namespace, writer: Any) -> None:
    if args.no_store:
        return
    from cockpit.evals.store import store_eval
    from cockpit.store.db import StoreError
    from cockpit.store.writer import StoreWriter
    from cockpit.triage.store import store_labels

    try:
        w = writer or StoreWriter(db_path(args))
        try:
            store_eval(w, run)
            store_labels(w, result.eval_id, result.label_rows())
            w.flush(timeout=120)
        finally:
            if writer is None:
                w.close()
    except (StoreError, TimeoutError) as err:
        print(f"cockpit: triage labels not stored: {err}", file=sys.stderr)


# ---- text output ----------------------------------------------------------------------
def _pct(x: float | None) -> str:
    return "-" if x is None or x != x else f"{100 * x:.0f}%"


def print_result(r: Any, out: TextIO) -> None:
    from cockpit.triage.summary import telling_slice

    mode = "offline heuristics" if r.mode == "offline" else (
        f"LLM {r.endpoint['model']}" if r.endpoint else "LLM")
    out.write(f"{r.eval_name}  ({r.n_samples} samples, {r.n_failures} failures; {mode})\n")
    out.write(f"  {r.path}\n")
    if r.not_model_errors:
        out.write("\nnot model errors (first pass, no LLM): " + ", ".join(
            f"{k.replace('_', ' ')} {len(v)}" for k, v in r.not_model_errors.items()) + "\n")
    if r.categories:
        rows = []
        for c in r.categories:
            top = telling_slice(c)
            rows.append([c.name, str(c.count), _pct(c.share.value),
                         f"[{_pct(c.share.low)}, {_pct(c.share.high)}]",
                         ", ".join(c.examples[:3]),
                         f"{top.field}={top.value}" if top else ""])
        out.write(f"\ncategories of {r.n_labelled} labelled model errors"
                  f"{' (heuristic)' if r.mode == 'offline' else ''}\n")
        print_table(["category", "n", "share", "95% CI", "examples", "over-represented"], rows, out)
        out.write("\n")
        for c in r.categories:
            out.write(f"  {c.name}: {c.definition}\n")
    if r.unlabelled:
        out.write(f"\nunlabelled (no valid label after retries): {len(r.unlabelled)}\n")
    out.write(f"\n{r.summary}\n")
    if r.tokens is not None:
        calls = r.calls or {}
        out.write(f"\ntokens: {r.tokens['input']:,} in, {r.tokens['output']:,} out; "
                  f"cost ${r.cost_usd or 0:.4f}; {calls.get('calls', 0)} calls, "
                  f"{calls.get('cache_hits', 0)} from cache\n")
    for note in r.notes:
        out.write(f"note: {note}\n")

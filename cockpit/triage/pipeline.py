"""Failure triage of one eval run: first pass, propose, assign, verify, quantify.

`Triage(run, config).prepare()` does the local work (first pass, derived features, TF-IDF)
so a caller can show `estimate(price)` and ask for consent before anything is sent;
`run(client)` finishes with an LLM (`ChatClient`) or offline (`client=None`). Progress is
reported as `progress(stage, done, total)`; setting `cancel` stops at the next call and
raises `Cancelled`. Qt-free: the UI runs it on a worker thread.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from cockpit.evals.model import MISSING, EvalRun
from cockpit.evals.stats.intervals import wilson
from cockpit.evals.stats.slices import sliceable_fields
from cockpit.triage.assign import assign, max_tokens_for
from cockpit.triage.cluster import Tfidf, kmeans, representative, tfidf
from cockpit.triage.cost import BudgetExceeded, Price, estimate_tokens
from cockpit.triage.features import FINDINGS, LANGUAGE, DerivedFeatures, derive_features
from cockpit.triage.firstpass import FirstPass, first_pass
from cockpit.triage.jsonshape import InvalidOutput
from cockpit.triage.language import UNDETERMINED
from cockpit.triage.llm import ChatClient
from cockpit.triage.offline import heuristic_categories, text_clusters
from cockpit.triage.prompts import (
    OTHER,
    Record,
    assign_messages,
    make_record,
    propose_messages,
    shown_id,
)
from cockpit.triage.propose import PROPOSE_MAX_TOKENS, propose, stratified_sample
from cockpit.triage.quantify import overrepresented
from cockpit.triage.redact import Redactor
from cockpit.triage.result import TriageCategory, TriageResult
from cockpit.triage.summary import summarize_result
from cockpit.triage.verify import verify

ProgressFn = Callable[[str, int, int], None]
OUTCOME_PREFIXES = ("score:", "output:")
TYPICAL_DEFINITION_CHARS = 160  # for the estimate, before the taxonomy exists


@dataclass(slots=True)
class TriageConfig:
    max_sample: int = 200  # failures the model reads to propose the taxonomy
    batch_size: int = 20  # failures per assign call
    max_categories: int = 8
    min_count: int = 3  # a category needs at least this many failures ...
    min_share: float = 0.02  # ... and this share of the model errors
    concurrency: int = 4
    max_invalid_retries: int = 2
    exclude_fields: tuple[str, ...] = ()  # metadata never sliced or sent (e.g. ground truth)
    max_correct_compared: int = 5000  # correct samples the offline slice tests compare with
    derive_features: bool = True
    seed: int = 20240531


@dataclass(frozen=True, slots=True)
class CostEstimate:
    calls: int
    input_tokens: int
    output_tokens: int
    usd: float
    worst_usd: float  # every call using its max_tokens
    price: Price

    def sentence(self) -> str:
        return (f"about {self.calls} calls, ~{self.input_tokens:,} input and ~{self.output_tokens:,} "
                f"output tokens, ~${self.usd:.4f} (at most ${self.worst_usd:.4f} if every reply "
                f"is as long as allowed; {self.price.source})")


@dataclass(slots=True)
class _Prepared:
    fp: FirstPass
    model_errors: np.ndarray
    population: np.ndarray
    features: DerivedFeatures | None
    tf: Tfidf
    min_count: int
    records: list[Record] = field(default_factory=list)
    ref_to_pos: dict[str, int] = field(default_factory=dict)
    sample_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


@dataclass(slots=True)
class _Found:
    """A category before it is quantified: members are positions into the run."""

    name: str
    definition: str
    members: list[int]
    heuristic: bool
    method: str
    merged_from: list[str] = field(default_factory=list)
    evidence: dict[str, object] = field(default_factory=dict)


@dataclass(slots=True)
class _Outcome:
    """What the offline or the LLM path decided, before quantifying."""

    categories: list[_Found]
    labels: dict[int, tuple[str, str]]  # position -> (category, rationale)
    unlabelled: list[int] = field(default_factory=list)
    dropped: dict[str, str] = field(default_factory=dict)
    merged: dict[str, str] = field(default_factory=dict)


def is_outcome(name: str) -> bool:
    return name.startswith(OUTCOME_PREFIXES)


class Triage:
    def __init__(self, run: EvalRun, config: TriageConfig | None = None,
                 progress: ProgressFn | None = None, cancel: threading.Event | None = None,
                 redactor: Redactor | None = None) -> None:
        self.run_ = run
        self.config = config or TriageConfig()
        self._progress = progress
        self.cancel = cancel
        self.redactor = redactor or Redactor()
        self._prep: _Prepared | None = None

    # ---- local work ---------------------------------------------------------------
    def _report(self, stage: str, done: int, total: int) -> None:
        if self._progress is not None:
            self._progress(stage, done, total)

    def _check_cancel(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            from cockpit.triage.llm import Cancelled

            raise Cancelled()

    def _fields(self, positions: np.ndarray) -> list[str]:
        t = self.run_.table
        excluded = set(self.config.exclude_fields)
        names = [f for f in t.fields() if not is_outcome(f) and f not in excluded]
        columns = {f: t.column(f)[positions] for f in names}
        return sliceable_fields(columns, len(positions)) if len(positions) else []

    def prepare(self) -> _Prepared:
        if self._prep is not None:
            return self._prep
        cfg = self.config
        self._report("first_pass", 0, 1)
        fp = first_pass(self.run_)
        self._report("first_pass", 1, 1)
        self._check_cancel()
        model_errors = fp.model_errors
        correct = np.flatnonzero(self.run_.table.correct == 1.0)
        if len(correct) > cfg.max_correct_compared:
            rng = np.random.default_rng(cfg.seed)
            correct = np.sort(rng.choice(correct, cfg.max_correct_compared, replace=False))
        population = np.sort(np.concatenate([model_errors, correct])).astype(np.int64)
        features = None
        if cfg.derive_features and len(model_errors):
            self._report("features", 0, 1)
            features = derive_features(self.run_, population)
            self._report("features", 1, 1)
        self._check_cancel()
        t = self.run_.table
        texts = [f"{t.inputs[i]}\n{t.outputs[i]}" for i in model_errors.tolist()]
        # Dense rows: keep the matrix near 80 MB however many failures there are.
        width = max(200, min(3000, 20_000_000 // max(len(texts), 1)))
        tf = tfidf(texts, max_features=width) if texts else Tfidf(
            np.zeros((0, 0), dtype=np.float32), [])
        n = len(model_errors)
        min_count = max(cfg.min_count, math.ceil(cfg.min_share * n))
        self._prep = _Prepared(fp, model_errors, population, features, tf, min_count)
        return self._prep

    def _records(self) -> _Prepared:
        """Redacted, clipped records of every model error, and the rows to propose from."""
        prep = self.prepare()
        if prep.records or not len(prep.model_errors):
            return prep
        t = self.run_.table
        excluded = set(self.config.exclude_fields)
        used: set[str] = set()
        for i, pos in enumerate(prep.model_errors.tolist()):
            ref = shown_id(str(t.sample_ids[pos]), i, self.redactor)
            if ref in used:
                ref = f"s{i}"
            used.add(ref)
            meta = {k: v for k, v in t.metadata[pos].items()
                    if not is_outcome(k) and k not in excluded}
            prep.records.append(make_record(ref, str(t.inputs[pos]), str(t.targets[pos]),
                                            str(t.outputs[pos]), meta, self.redactor))
            prep.ref_to_pos[ref] = pos
        n = len(prep.records)
        if n > self.config.max_sample and prep.tf.matrix.shape[1]:
            k = int(min(8, max(2, round(math.sqrt(n / 4)))))
            strata, _ = kmeans(prep.tf.matrix, k, self.config.seed)
        else:
            strata = np.zeros(n, dtype=np.int64)
        prep.sample_rows = stratified_sample(strata, self.config.max_sample, self.config.seed)
        return prep

    def estimate(self, price: Price) -> CostEstimate:
        """Tokens and dollars the LLM steps should cost (chars/4; before the cache)."""
        prep = self._records()
        cfg = self.config
        if not prep.records:
            return CostEstimate(0, 0, 0, 0.0, 0.0, price)
        sample = [prep.records[i] for i in prep.sample_rows.tolist()]
        calls = 1
        tokens_in = sum(estimate_tokens(m["content"])
                        for m in propose_messages(sample, cfg.max_categories))
        tokens_out = 150 * cfg.max_categories // 2
        worst_out = PROPOSE_MAX_TOKENS
        fake = [(f"category_{i}", "x" * TYPICAL_DEFINITION_CHARS)
                for i in range(cfg.max_categories // 2 + 1)]
        for start in range(0, len(prep.records), cfg.batch_size):
            batch = prep.records[start:start + cfg.batch_size]
            calls += 1
            tokens_in += sum(estimate_tokens(m["content"]) for m in assign_messages(fake, batch))
            tokens_out += 25 * len(batch)
            worst_out += max_tokens_for(len(batch))
        return CostEstimate(calls, tokens_in, tokens_out, price.cost(tokens_in, tokens_out),
                            price.cost(tokens_in, worst_out), price)

    # ---- the triage -----------------------------------------------------------------
    def run(self, client: ChatClient | None = None) -> TriageResult:
        prep = self.prepare()
        notes = list(prep.fp.notes)
        mode = "offline" if client is None else "llm"
        outcome = _Outcome([], {})
        if len(prep.model_errors):
            got = self._llm(client, notes) if client is not None else None
            if got is None:
                mode = "offline"
                got = self._offline(notes)
            outcome = got
        self._check_cancel()
        self._report("quantify", 0, 1)
        result = self._assemble(mode, outcome.categories, outcome.labels, outcome.unlabelled,
                                notes)
        result.dropped, result.merged = outcome.dropped, outcome.merged
        if client is not None:
            b = client.budget
            result.tokens = {"input": b.input_tokens, "output": b.output_tokens}
            result.cost_usd = b.spent_usd
            s = client.stats
            result.calls = {"calls": s.calls, "cache_hits": s.cache_hits, "retries": s.retries,
                            "timeouts": s.timeouts, "rate_limited": s.rate_limited,
                            "server_errors": s.server_errors}
            result.endpoint = {"base_url": client.endpoint.base_url, "model": client.endpoint.model}
            result.price = {"input_per_1m": b.price.input_per_m, "output_per_1m": b.price.output_per_m,
                            "source": b.price.source, "max_cost_usd": b.cap_usd}
            result.redactions = dict(self.redactor.counts)
        result.summary = summarize_result(result)
        self._report("quantify", 1, 1)
        return result

    def _offline(self, notes: list[str]) -> _Outcome:
        prep = self.prepare()
        self._report("offline", 0, 1)
        cats: list[_Found] = []
        labels: dict[int, tuple[str, str]] = {}
        covered: set[int] = set()
        if prep.features is not None:
            fields = self._fields(prep.population)
            for h in heuristic_categories(self.run_, prep.model_errors, prep.population,
                                          prep.features, fields, prep.min_count):
                members = [int(p) for p in h.members.tolist()]
                cats.append(_Found(h.name, h.definition, members, True, h.method, [], h.evidence))
                covered.update(members)
        left_rows = np.array([r for r, p in enumerate(prep.model_errors.tolist())
                              if p not in covered], dtype=np.int64)
        if len(left_rows):
            for h in text_clusters(prep.tf.matrix[left_rows], prep.model_errors[left_rows],
                                   prep.tf.vocab, prep.min_count, self.config.seed):
                members = [int(p) for p in h.members.tolist()]
                cats.append(_Found(h.name, h.definition, members, True, h.method, [], h.evidence))
                covered.update(members)
        for found in cats:
            for p in found.members:
                labels[p] = (found.name, f"heuristic ({found.method})")
        for p in prep.model_errors.tolist():
            if p not in labels:
                labels[int(p)] = (OTHER, "heuristic: no tested pattern or text cluster fits")
        notes.append("offline mode: categories are heuristics (tested slices of derived text "
                     "features and metadata, then TF-IDF clusters), not an LLM's reading")
        self._report("offline", 1, 1)
        return _Outcome(cats, labels)

    def _llm(self, client: ChatClient, notes: list[str]) -> _Outcome | None:
        """None when no usable taxonomy came back (the caller falls back to offline)."""
        prep = self._records()
        cfg = self.config
        sample = [prep.records[i] for i in prep.sample_rows.tolist()]
        self._report("propose", 0, 1)
        try:
            proposal = propose(client, sample, cfg.max_categories, cfg.max_invalid_retries,
                               self.cancel)
        except InvalidOutput as err:
            notes.append(f"the model gave no usable taxonomy ({err}); falling back to offline "
                         "heuristics")
            return None
        except BudgetExceeded as err:
            notes.append(f"cost cap reached before the taxonomy was proposed ({err}); falling "
                         "back to offline heuristics")
            return None
        notes.extend(proposal.notes)
        self._report("propose", 1, 1)
        taxonomy = [(c.name, c.definition) for c in proposal.categories]
        n_batches = math.ceil(len(prep.records) / cfg.batch_size)
        self._report("assign", 0, n_batches)
        assignment = assign(client, taxonomy, prep.records, cfg.batch_size, cfg.concurrency,
                            cfg.max_invalid_retries, self.cancel,
                            on_batch=lambda done, total: self._report("assign", done, total))
        notes.extend(assignment.notes)
        if assignment.stopped:
            notes.append(f"labelling stopped early: {assignment.stopped}; "
                         f"{len(assignment.unlabelled)} failures left unlabelled")
        self._report("verify", 0, 1)
        verified = verify(proposal.categories, assignment.labels, prep.min_count)
        for name, reason in verified.dropped.items():
            notes.append(f"dropped category {name}: {reason}")
        for src, dst in verified.merged.items():
            notes.append(f"merged category {src} into {dst}: the model could not tell them apart")
        self._report("verify", 1, 1)
        labels = {prep.ref_to_pos[ref]: lab for ref, lab in verified.labels.items()}
        cats: list[_Found] = []
        for c in verified.categories:
            members = sorted(p for p, (name, _) in labels.items() if name == c.name)
            cats.append(_Found(c.name, c.definition, members, False, "llm", c.merged_from))
        unlabelled = [prep.ref_to_pos[r] for r in assignment.unlabelled]
        return _Outcome(cats, labels, unlabelled, verified.dropped, verified.merged)

    def _assemble(self, mode: str,
                  categories: list[_Found],
                  labels: dict[int, tuple[str, str]], unlabelled: list[int],
                  notes: list[str]) -> TriageResult:
        prep = self.prepare()
        run = self.run_
        ids = run.table.sample_ids
        fp = prep.fp
        not_model: dict[str, list[str]] = {}
        evidence: dict[str, str] = {}
        for pos, kind, why in zip(fp.failures.tolist(), fp.kinds, fp.evidence, strict=True):
            if kind is not None:
                not_model.setdefault(kind, []).append(str(ids[pos]))
                evidence[str(ids[pos])] = why
        labelled = np.array(sorted(labels), dtype=np.int64)
        label_arr = np.array([labels[p][0] for p in labelled.tolist()], dtype=object)
        columns: dict[str, np.ndarray] = {}
        if len(labelled):
            for name in self._fields(labelled):
                columns[name] = run.table.column(name)[labelled]
            if prep.features is not None:
                where = {int(p): i for i, p in enumerate(prep.features.positions.tolist())}
                rows = np.array([where[int(p)] for p in labelled.tolist()], dtype=np.int64)
                for name, col in prep.features.columns.items():
                    # Only findings are tested ("code-switched", not "not code-switched").
                    keep = FINDINGS.get(name)
                    values = col[rows]
                    if keep is not None:
                        values = np.where(np.isin(values, list(keep)), values, MISSING)
                    elif name == LANGUAGE:
                        values = np.where(values == UNDETERMINED, MISSING, values)
                    columns[name] = values
        over = overrepresented(label_arr, columns) if len(labelled) else {}
        n = len(labelled)
        tf_row = {int(p): r for r, p in enumerate(prep.model_errors.tolist())}
        out: list[TriageCategory] = []
        other = [p for p, (name, _) in labels.items() if name == OTHER]
        entries = [c for c in categories if c.members and c.name != OTHER]
        if other:
            entries.append(_Found(OTHER, "Failures that fit none of the categories.",
                                  sorted(other), mode == "offline",
                                  "heuristic" if mode == "offline" else "llm"))
        for found in entries:
            rows = np.array([tf_row[p] for p in found.members], dtype=np.int64)
            mask = np.zeros(len(prep.model_errors), dtype=bool)
            mask[rows] = True
            reps = representative(prep.tf.matrix, mask) if len(prep.tf.vocab) else rows[:5]
            examples = [str(ids[prep.model_errors[r]]) for r in reps.tolist()]
            out.append(TriageCategory(
                found.name, found.definition, [str(ids[p]) for p in found.members],
                wilson(len(found.members), n), examples, over.get(found.name, []),
                found.heuristic, found.method, list(found.merged_from), dict(found.evidence)))
        out.sort(key=lambda c: (c.name == OTHER, -c.count, c.name))
        detector = prep.features.detector if prep.features is not None else None
        return TriageResult(
            eval_name=run.name, eval_id=run.eval_id, path=run.path, mode=mode,
            n_samples=len(run), n_failures=len(fp.failures), not_model_errors=not_model,
            first_pass_evidence=evidence, categories=out,
            labels={str(ids[p]): lab for p, lab in labels.items()},
            unlabelled=[str(ids[p]) for p in unlabelled], notes=notes,
            language_detector=detector)


def run_triage(run: EvalRun, config: TriageConfig | None = None, client: ChatClient | None = None,
               progress: ProgressFn | None = None,
               cancel: threading.Event | None = None) -> TriageResult:
    """The whole triage in one call (offline when `client` is None)."""
    return Triage(run, config, progress, cancel).run(client)

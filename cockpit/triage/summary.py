"""The written summary: built from Cockpit's own counts and intervals, never the model's words
about numbers (category names and definitions are the only text the model contributes)."""

from __future__ import annotations

import math

from cockpit.triage.prompts import OTHER
from cockpit.triage.quantify import Overrepresented
from cockpit.triage.result import TriageCategory, TriageResult

TOP = 3


def percent(x: float) -> str:
    return "-" if not math.isfinite(x) else f"{100 * x:.0f}"


def p_text(p: float) -> str:
    return f"{p:.1g}" if p < 0.001 else f"{p:.3f}"


def telling_slice(c: TriageCategory) -> Overrepresented | None:
    """The most significant over-represented slice outside the category's own defining
    field (a heuristic category defined by a slice holds it 100 %, which says nothing)."""
    own = c.evidence.get("field")
    return next((o for o in c.overrepresented if o.field != own), None)


def category_sentence(c: TriageCategory, n: int) -> str:
    """e.g. "spanish code switching: 41 of 57 failures, 72 % [59-82]"."""
    s = c.share
    text = (f"{c.name.replace('_', ' ')}: {c.count} of {n} failures, {percent(s.value)} % "
            f"[{percent(s.low)}-{percent(s.high)}]")
    o = telling_slice(c)
    if o is not None:
        text += (f" (over-represented: {o.field} = {o.value}, {o.count} of {o.n_category} vs "
                 f"{percent(o.share_elsewhere)} % of other failures, p_adj {p_text(o.p_adjusted)})")
    return text


def summarize_result(r: TriageResult) -> str:
    parts = []
    set_aside = sum(len(v) for v in r.not_model_errors.values())
    if r.n_failures == 0:
        return f"{r.eval_name}: no failures to triage."
    head = f"{r.n_failures} failures"
    if set_aside:
        kinds = ", ".join(f"{len(v)} {k.replace('_', ' ')}" for k, v in
                          sorted(r.not_model_errors.items(), key=lambda kv: -len(kv[1])))
        head += f", {set_aside} of them not model errors ({kinds})"
    parts.append(head + ".")
    ranked = sorted((c for c in r.categories if c.name != OTHER), key=lambda c: -c.count)
    n = r.n_labelled
    if ranked and n:
        lead = "Heuristic categories" if r.mode == "offline" else "Wrong most often"
        parts.append(f"{lead} among {n} labelled model errors: "
                     + "; ".join(category_sentence(c, n) for c in ranked[:TOP]) + ".")
    elif n:
        parts.append(f"No category covers several of the {n} model errors.")
    other = next((c for c in r.categories if c.name == OTHER), None)
    if other is not None and n:
        parts.append(f"Other: {other.count} of {n} ({percent(other.share.value)} %).")
    if r.unlabelled:
        parts.append(f"{len(r.unlabelled)} left unlabelled.")
    return " ".join(parts)

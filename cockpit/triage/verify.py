"""Step 4: keep only categories that are real, distinct and big enough.

Distinctness is measured, not asked: the samples the model named as examples when it
proposed a category were later labelled independently, in batches. If most of a
category's own examples were labelled as another category (or the two trade examples both
ways), the model cannot tell them apart and they are merged; if they mostly went to
"other", the category is dropped. Categories with fewer than `min_count` failures are
dropped too. Dropped categories' failures become "other".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from cockpit.triage.prompts import OTHER
from cockpit.triage.propose import ProposedCategory

MIN_EXAMPLES = 3  # examples needed before a category's consistency is judged
OWN_SHARE = 0.5  # below this share of its examples labelled as itself: not reproducible
CROSS_SHARE = 0.3  # this share of examples going to another category: confused with it


@dataclass(slots=True)
class FinalCategory:
    name: str
    definition: str
    merged_from: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Verified:
    categories: list[FinalCategory]
    labels: dict[str, tuple[str, str]]  # ref -> (category, rationale), "other" included
    merged: dict[str, str] = field(default_factory=dict)  # from -> into
    dropped: dict[str, str] = field(default_factory=dict)  # name -> reason


def _example_shares(cat: ProposedCategory, labels: dict[str, tuple[str, str]]
                    ) -> tuple[int, Counter[str]]:
    got = [labels[r][0] for r in cat.example_refs if r in labels]
    return len(got), Counter(got)


def verify(proposed: Sequence[ProposedCategory], labels: dict[str, tuple[str, str]],
           min_count: int) -> Verified:
    cats = {c.name: FinalCategory(c.name, c.definition) for c in proposed}
    examples = {c.name: c for c in proposed}
    labels = dict(labels)
    out = Verified([], labels)

    def relabel(src: str, dst: str) -> None:
        for ref, (cat, why) in list(labels.items()):
            if cat == src:
                labels[ref] = (dst, why)

    def drop(name: str, reason: str) -> None:
        relabel(name, OTHER)
        out.dropped[name] = reason
        del cats[name]

    def merge(src: str, dst: str) -> None:
        relabel(src, dst)
        keep = cats[dst]
        keep.merged_from += [src, *cats[src].merged_from]
        keep.definition = f"{keep.definition} (merged with {src}: {cats[src].definition})"
        out.merged[src] = dst
        out.dropped.pop(src, None)
        del cats[src]
        for k, v in list(out.merged.items()):  # earlier merges into src now point to dst
            if v == src:
                out.merged[k] = dst
        examples[dst] = ProposedCategory(dst, keep.definition,
                                         examples[dst].example_refs + examples[src].example_refs)

    changed = True
    while changed:
        changed = False
        counts = Counter(cat for cat, _ in labels.values())
        for name in list(cats):
            if counts[name] == 0:
                drop(name, "no failure was assigned to it")
                changed = True
        if changed:
            continue
        shares = {n: _example_shares(examples[n], labels) for n in cats}
        for name, (n_ex, got) in shares.items():
            if n_ex < MIN_EXAMPLES or got[name] / n_ex >= OWN_SHARE:
                continue
            dest, k = max(((c, k) for c, k in got.items() if c != name),
                          key=lambda ck: (ck[1], ck[0] != OTHER), default=(OTHER, 0))
            if dest != OTHER and dest in cats and k / n_ex >= CROSS_SHARE:
                merge(name, dest)
            else:
                drop(name, f"only {got[name]} of its {n_ex} own examples were labelled as it")
            changed = True
            break
        if changed:
            continue
        for a in cats:
            n_a, got_a = shares[a]
            for b in cats:
                if a >= b:
                    continue
                n_b, got_b = shares[b]
                if n_a >= MIN_EXAMPLES and n_b >= MIN_EXAMPLES and \
                        got_a[b] / n_a >= CROSS_SHARE and got_b[a] / n_b >= CROSS_SHARE:
                    lesser, bigger = (a, b) if counts[a] < counts[b] else (b, a)
                    merge(lesser, bigger)
                    changed = True
                    break
            if changed:
                break
        if changed:
            continue
        small = [n for n in cats if counts[n] < min_count]
        if small:
            name = min(small, key=lambda n: counts[n])
            drop(name, f"only {counts[name]} failures (fewer than {min_count})")
            changed = True
    out.categories = list(cats.values())
    return out

"""Which stored series the detectors and views watch: the role rules (README, "Series and roles").

Every raw series a run logs is stored under the key its file wrote. A *role* names the one
series that plays a part the detectors know: the train loss, the validation loss, the learning
rate, the gradient norm, throughput, step time, memory. A run logs several candidates for one
role at times (Hugging Face's per-step `loss` beside its end-of-training `train_loss`, Lightning's
`train_loss_step` beside `train_loss_epoch`, nanoGPT's `iter N: loss` beside its eval-time
`step N: train loss`); the rules below pick one, from the key names alone, so the choice never
depends on the order in which files, lines or hash-ordered sets were read.

Rule order, first that decides wins:
1. an override set for the run (`cockpit series RUN --role ROLE=KEY`);
2. the lowest rank of the key's form (see `role_of`): the bare role name (`loss`), then
   Lightning's per-step `_step` form, then the other spellings (`train/loss`, `Loss/train`,
   `train_loss`, `trl` ...), then the per-epoch `_epoch` form; for the validation loss the
   epoch aggregate ranks before the per-batch `_step` form;
3. the key itself, in code-point order (a stable last resort).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from cockpit.model.keys import canonical_key

# Role names are the canonical names the detectors were written for.
TRAINING_ROLES = ("loss", "lr", "grad_norm", "tokens_per_s", "step_time_ms")
ROLES = ("loss", "val_loss", "lr", "grad_norm", "tokens_per_s", "step_time_ms", "memory")

_NOT_MEMORY = frozenset({"util", "utilization", "bw", "bandwidth", "clock", "free", "pct",
                         "percent", "frac", "fraction"})

# rank -> what the rule says, for the `series.role_rule` column.
_FORMS = {
    "bare": "the bare role name",
    "step": "Lightning's per-step `_step` form",
    "alias": "another spelling of the role",
    "epoch": "the per-epoch `_epoch` form",
    "memory_alloc": "allocated memory",
    "memory": "a memory series",
    "memory_capacity": "a memory capacity or peak",
}
_TRAIN_RANKS = {"bare": 0, "step": 1, "alias": 2, "epoch": 3}
_VAL_RANKS = {"bare": 0, "alias": 1, "epoch": 2, "step": 3}


def is_memory_metric(name: str) -> bool:
    """A series that measures memory in use (not its utilisation, bandwidth or capacity)."""
    tokens = set(name.split("_"))
    return (bool(tokens & {"mem", "memory"}) and not tokens & _NOT_MEMORY
            and not any(t.startswith(("avail", "free")) for t in tokens))


@dataclass(frozen=True, slots=True)
class RoleMatch:
    """A key's candidacy for a role: lower rank wins; `form` says which rule matched."""

    role: str
    rank: int
    form: str

    def rule(self) -> str:
        return f"rank {self.rank}: {_FORMS[self.form]}"


@lru_cache(maxsize=8192)
def role_of(key: str) -> RoleMatch | None:
    """The role a key may play, and how well its name says so; None for other series."""
    canonical = canonical_key(key)
    base, form = canonical, "alias"
    for suffix, name in (("_step", "step"), ("_epoch", "epoch")):
        if canonical.endswith(suffix) and len(canonical) > len(suffix):
            stem = canonical_key(canonical[: -len(suffix)])
            if stem in ROLES:
                base, form = stem, name
            break
    if base in ROLES and base != "memory":
        if form == "alias" and _plain(key) == base:
            form = "bare"
        ranks = _VAL_RANKS if base == "val_loss" else _TRAIN_RANKS
        return RoleMatch(base, ranks[form], form)
    if is_memory_metric(canonical):
        tokens = set(canonical.split("_"))
        if "alloc" in tokens or "allocated" in tokens:
            return RoleMatch("memory", 0, "memory_alloc")
        if tokens & {"total", "peak", "max", "limit"}:
            return RoleMatch("memory", 2, "memory_capacity")
        return RoleMatch("memory", 1, "memory")
    return None


def _plain(key: str) -> str:
    return key.strip().lower().replace("-", "_").replace(" ", "_")


@dataclass(frozen=True, slots=True)
class RoleChoice:
    role: str
    key: str
    rule: str  # why this key: "override" or the rank rule that won


def assign_roles(keys: Iterable[str], overrides: Mapping[str, str | None] | None = None
                 ) -> dict[str, RoleChoice]:
    """role -> the chosen key, for one run's set of keys (order does not matter).

    An override maps a role to a key (which then plays no other role) or to None (the role is
    left unwatched); an override naming a key the run does not log leaves the role unwatched.
    """
    present = set(keys)
    overrides = dict(overrides or {})
    chosen: dict[str, RoleChoice] = {}
    taken: set[str] = set()
    for role in sorted(overrides):
        key = overrides[role]
        if key is not None and key in present and key not in taken:
            chosen[role] = RoleChoice(role, key, "override")
            taken.add(key)
    best: dict[str, tuple[int, str, RoleMatch]] = {}
    for key in present - taken:
        match = role_of(key)
        if match is None or match.role in overrides:
            continue
        candidate = (match.rank, key, match)
        if match.role not in best or candidate[:2] < best[match.role][:2]:
            best[match.role] = candidate
    for role, (_, key, match) in best.items():
        chosen[role] = RoleChoice(role, key, match.rule())
    return chosen


def watch_name(key: str, role: str | None, canonical: str | None = None) -> str:
    """The name a series is watched and charted under: the role's name for the key playing it
    (memory excepted: its canonical name), else the canonical name, unless that is a role name
    another key plays (HF's summary `train_loss`): then the raw key, so the two never merge."""
    if role is not None and role != "memory":
        return role
    name = canonical_key(key) if canonical is None else canonical
    if name not in ROLES:
        return name
    return key if key not in ROLES else f"{key} (unwatched)"


def roles_by_key(choices: Mapping[str, RoleChoice]) -> dict[str, str]:
    """key -> role, the view the detectors route by."""
    return {c.key: c.role for c in choices.values()}

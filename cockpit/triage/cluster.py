"""TF-IDF vectors, spherical k-means and keyword labels, in numpy alone.

Offline triage groups the failures no heuristic explains by what their text talks about;
the LLM path uses the same clusters to draw a stratified sample for the model to read.
Numbers become `#` so "180 km in 2 hours" and "96 km in 3 hours" share their terms.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cockpit.triage.language import STOPWORDS, words

_TOKEN = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?|\d+(?:[.,]\d+)?")
_STOP = frozenset().union(*STOPWORDS.values()) | words(
    "answer question context please thanks hello hi yes")
NUM = "#"


def tokenize(text: str) -> list[str]:
    """Lower-cased words (no function words, no single letters), numbers as `#`, plus bigrams."""
    words = []
    for tok in _TOKEN.findall(text.lower()):
        if tok[0].isdigit():
            words.append(NUM)
        elif len(tok) > 1 and tok not in _STOP:
            words.append(tok)
    return words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False) if a != b]


@dataclass(slots=True)
class Tfidf:
    matrix: np.ndarray  # rows L2-normalized, float32
    vocab: list[str]


def tfidf(texts: Sequence[str], min_df: int = 2, max_features: int = 3000) -> Tfidf:
    docs = [tokenize(t) for t in texts]
    df: Counter[str] = Counter()
    for doc in docs:
        df.update(set(doc))
    n = len(docs)
    limit = max(min_df, 1)
    kept = [t for t, c in df.items() if c >= limit and (c < n or n <= 2) and t != NUM]
    kept.sort(key=lambda t: (-df[t], t))
    vocab = kept[:max_features]
    index = {t: i for i, t in enumerate(vocab)}
    matrix = np.zeros((n, len(vocab)), dtype=np.float32)
    for row, doc in enumerate(docs):
        for term, count in Counter(doc).items():
            col = index.get(term)
            if col is not None:
                matrix[row, col] = 1.0 + math.log(count)
    if vocab:
        idf = np.log((1 + n) / (1 + np.array([df[t] for t in vocab], dtype=np.float32))) + 1.0
        matrix *= idf
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    np.divide(matrix, norms, out=matrix, where=norms > 0)
    return Tfidf(matrix, vocab)


def kmeans(x: np.ndarray, k: int, seed: int = 0, n_init: int = 4, iters: int = 60
           ) -> tuple[np.ndarray, np.ndarray]:
    """Spherical k-means (cosine) with k-means++ seeding; best of `n_init` runs."""
    n = len(x)
    k = max(1, min(k, n))
    rng = np.random.default_rng(seed)
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for _ in range(n_init):
        centers = _plus_plus(x, k, rng)
        labels = np.zeros(n, dtype=np.int64)
        for step in range(iters):
            sims = x @ centers.T
            new = sims.argmax(axis=1)
            if step and np.array_equal(new, labels):
                break
            labels = new
            for c in range(k):
                members = x[labels == c]
                if len(members):
                    centre = members.sum(axis=0)
                    norm = float(np.linalg.norm(centre))
                    centers[c] = centre / norm if norm > 0 else centre
                else:  # an empty cluster restarts at the worst-served point
                    worst = int(sims.max(axis=1).argmin())
                    centers[c] = x[worst]
        score = float((x @ centers.T).max(axis=1).sum())
        if best is None or score > best[0]:
            best = (score, labels.copy(), centers.copy())
    assert best is not None
    return best[1], best[2]


def _plus_plus(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    n = len(x)
    centers = np.empty((k, x.shape[1]), dtype=x.dtype)
    centers[0] = x[rng.integers(n)]
    dist = 1.0 - x @ centers[0]
    for c in range(1, k):
        weights = np.clip(dist, 0, None) ** 2
        total = float(weights.sum())
        pick = int(rng.integers(n)) if total <= 0 else int(rng.choice(n, p=weights / total))
        centers[c] = x[pick]
        dist = np.minimum(dist, 1.0 - x @ centers[c])
    return centers


def silhouette(x: np.ndarray, labels: np.ndarray, sample: int = 1500, seed: int = 0) -> float:
    """Mean silhouette with cosine distance (on a sample when there are many points)."""
    n = len(x)
    if n > sample:
        idx = np.random.default_rng(seed).choice(n, sample, replace=False)
        x, labels = x[idx], labels[idx]
    uniq = np.unique(labels)
    if len(uniq) < 2:
        return -1.0
    dist = 1.0 - x @ x.T
    scores = np.zeros(len(x))
    for i in range(len(x)):
        own = labels == labels[i]
        n_own = int(own.sum()) - 1
        if n_own == 0:
            continue
        a = (float(dist[i, own].sum()) - float(dist[i, i])) / n_own
        b = min(float(dist[i, labels == c].mean()) for c in uniq if c != labels[i])
        scores[i] = (b - a) / max(a, b) if max(a, b) > 0 else 0.0
    return float(scores.mean())


def best_kmeans(x: np.ndarray, k_range: range, seed: int = 0) -> tuple[np.ndarray, np.ndarray, int]:
    """k-means for each k in `k_range`, keeping the k with the best silhouette."""
    best: tuple[float, np.ndarray, np.ndarray, int] | None = None
    for k in k_range:
        if k >= len(x):
            break
        labels, centers = kmeans(x, k, seed)
        score = silhouette(x, labels, seed=seed)
        if best is None or score > best[0] + 1e-9:
            best = (score, labels, centers, k)
    if best is None:
        labels, centers = kmeans(x, 1, seed)
        return labels, centers, 1
    return best[1], best[2], best[3]


def keywords(x: np.ndarray, members: np.ndarray, vocab: list[str], n: int = 4) -> list[str]:
    """Terms that set a group apart: its mean weight minus everyone's, unigrams inside a
    chosen bigram skipped."""
    if not vocab or not members.any():
        return []
    score = x[members].mean(axis=0) - x.mean(axis=0)
    order = np.argsort(-score)
    chosen: list[str] = []
    for i in order[: n * 6]:
        term = vocab[int(i)]
        if score[i] <= 0:
            break
        if any(term in c.split() or c in term.split() for c in chosen):
            continue
        chosen.append(term.replace(NUM, "N"))
        if len(chosen) == n:
            break
    return chosen


def representative(x: np.ndarray, members: np.ndarray, n: int = 5) -> np.ndarray:
    """Positions (into `members`' True rows, in order of x) closest to the group's centre."""
    idx = np.flatnonzero(members)
    if len(idx) <= n or x.shape[1] == 0:
        return idx[:n]
    centre = x[idx].mean(axis=0)
    sims = x[idx] @ centre
    return idx[np.argsort(-sims, kind="stable")[:n]]

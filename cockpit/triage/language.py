"""Language and code-switch detection that works offline.

Uses py3langid (a fork of langid.py: its naive Bayes model, 4.5 MB, ships inside the
package, nothing is downloaded) when it is installed; otherwise bundled function-word lists
for six European languages (weaker, said in the output). A text is *code-switched* when
clause-sized chunks of it are confidently in two languages, each with a real share of the
words ("Hola, I bought unos audífonos last week y quiero saber the return window").
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from dataclasses import dataclass

UNDETERMINED = "und"
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
_NOISE = re.compile(r"\[REDACTED:[a-z_]+\]|https?://\S+|\S+@\S+|\b\w*\d\w*\b")
_CLAUSE = re.compile(r"[.,;:!?¿¡()\[\]{}\"“”«»\n\t|/]+")
WINDOW = 6  # words per chunk when a clause is long

def words(text: str) -> frozenset[str]:
    """A word set written as one string (easier to read and edit than a list literal)."""
    return frozenset(text.split())


STOPWORDS: dict[str, frozenset[str]] = {
    "en": words("the and is are was were of to in on for with that this it you your my i "
                    "we what how which who when do does did have has not but or be at by from "
                    "an as if will would can"),
    "es": words("el la los las y es son de del que en con por para un una mi tu su "
                    "cuál cuánto cuántos cuántas qué cómo dónde no pero o se lo al más muy "
                    "tengo quiero ya esta este está hay como"),
    "de": words("der die das und ist sind von zu mit den dem ein eine nicht ich du wir "
                    "was wie wo wer auf für auch aber oder im es sie"),
    "fr": words("le la les et est sont de des du que en avec pour un une je tu nous "
                    "quel quelle comment où pas mais ou au aux ce cette il elle"),
    "it": words("il lo la gli le e è sono di del della che in con per un una io non ma "
                    "o come dove quale questo questa"),
    "pt": words("o a os as e é são de do da que em com por para um uma eu não mas ou "
                    "como onde qual isso esta este"),
}


@dataclass(frozen=True, slots=True)
class CodeSwitch:
    switched: bool
    words: dict[str, int]  # confidently classified words per language

    @property
    def languages(self) -> list[str]:
        return [k for k, _ in sorted(self.words.items(), key=lambda kv: -kv[1])]


class LanguageDetector:
    """One per process (`detector()`); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ident = None
        self._restricted = None
        self._restricted_to: tuple[str, ...] = ()
        self.name = "bundled function-word lists (en, es, de, fr, it, pt)"
        try:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier
        except ImportError:
            return
        try:
            self._ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
            self._restricted = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        except Exception:  # a broken install: fall back rather than fail the triage
            self._ident = self._restricted = None
            return
        try:
            from importlib.metadata import version

            self.name = f"py3langid {version('py3langid')}"
        except Exception:
            self.name = "py3langid"

    @property
    def uses_model(self) -> bool:
        return self._ident is not None

    def language(self, text: str) -> tuple[str, float]:
        """The main language of a text (ISO 639-1) and a confidence; `und` when too short."""
        clean = _NOISE.sub(" ", text)
        words = _WORD.findall(clean)
        if len(words) < 2:
            return UNDETERMINED, 0.0
        if self._ident is not None:
            with self._lock:
                lang, prob = self._ident.classify(clean)
            return str(lang), float(prob)
        return _stopword_language(words)

    def code_switch(self, text: str, candidates: list[str] | None = None,
                    min_prob: float = 0.9, min_share: float = 0.15) -> CodeSwitch:
        """Chunk the text at clause marks (and every `WINDOW` words), classify each chunk
        among `candidates`, and call it switched when a second language holds at least
        `min_share` of the confidently classified words and three words or more."""
        chunks: list[list[str]] = []
        for clause in _CLAUSE.split(_NOISE.sub(" ", text)):
            words = _WORD.findall(clause)
            for start in range(0, len(words), WINDOW):
                part = words[start:start + WINDOW]
                if len(part) < WINDOW and start and len(part) < 3:
                    chunks[-1].extend(part)  # a short tail joins the previous window
                else:
                    chunks.append(part)
        counts: Counter[str] = Counter()
        langs = tuple(sorted(set(candidates or ()) | {"en"}))
        for words in chunks:
            if len(words) < 2:
                continue
            lang, prob = self._classify_chunk(" ".join(words), words, langs)
            if lang != UNDETERMINED and prob >= min_prob:
                counts[lang] += len(words)
        total = sum(counts.values())
        ranked = counts.most_common()
        switched = (len(ranked) >= 2 and ranked[1][1] >= 3 and total > 0
                    and ranked[1][1] / total >= min_share)
        return CodeSwitch(switched, dict(counts))

    def _classify_chunk(self, text: str, words: list[str],
                        langs: tuple[str, ...]) -> tuple[str, float]:
        if self._restricted is None:
            lang, score = _stopword_language(words, langs)
            return lang, 1.0 if score >= 0.5 else 0.0
        with self._lock:
            if langs != self._restricted_to:
                known = [lang for lang in langs if lang in self._restricted.nb_classes]
                self._restricted.set_languages(known or None)
                self._restricted_to = langs
            lang, prob = self._restricted.classify(text)
        return str(lang), float(prob)


def _stopword_language(words: list[str], langs: tuple[str, ...] | None = None
                       ) -> tuple[str, float]:
    """The language whose function words cover the most words; the share as confidence."""
    lowered = [w.lower() for w in words]
    best, best_hits, second = UNDETERMINED, 0, 0
    for lang, vocab in STOPWORDS.items():
        if langs and lang not in langs:
            continue
        hits = sum(1 for w in lowered if w in vocab)
        if hits > best_hits:
            best, best_hits, second = lang, hits, best_hits
        elif hits > second:
            second = hits
    if best_hits == 0 or best_hits == second:
        return UNDETERMINED, 0.0
    return best, (best_hits - second) / max(1, best_hits)


_DETECTOR: LanguageDetector | None = None
_DETECTOR_LOCK = threading.Lock()


def detector() -> LanguageDetector:
    """The process-wide detector (loading the model takes ~2 s, so it is done once)."""
    global _DETECTOR
    with _DETECTOR_LOCK:
        if _DETECTOR is None:
            _DETECTOR = LanguageDetector()
        return _DETECTOR

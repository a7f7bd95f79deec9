"""Per-document scanners backed by the Rust core: the shared normalisation,
PII detection and redaction, Gopher repetition and quality filters, and the
seed guide's length and validator checks.

Every function releases the GIL; the ``*_batch`` forms (and ``redact_pii`` on
a list) run on tunesmith's thread pool (see ``tunesmith.set_num_threads``)
and return results in input order.

References:
    Rae et al. 2021, "Scaling Language Models: Methods, Analysis & Insights
    from Training Gopher", Table A1 (repetition thresholds) and section A.1.1
    (quality heuristics); the definitions follow datatrove's
    ``GopherRepetitionFilter`` and ``GopherQualityFilter`` so keep/drop
    decisions agree with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Literal

from tunesmith import _core

__all__ = [
    "PII_KINDS",
    "PiiSpan",
    "RepetitionStats",
    "QualityStats",
    "normalize_text",
    "normalize_texts",
    "word_tokens",
    "scan_pii",
    "scan_pii_batch",
    "redact_pii",
    "repetition_stats",
    "repetition_stats_batch",
    "repetition_verdict",
    "gopher_quality",
    "gopher_quality_stats",
    "gopher_quality_batch",
    "gopher_filters_batch",
    "length_check",
    "seed_checks",
]

#: Every PII kind ``scan_pii`` reports, e.g. ``"EMAIL"``, ``"CREDIT_CARD"``.
PII_KINDS: tuple[str, ...] = tuple(_core.pii_kinds())

RedactMode = Literal["placeholder", "mask", "hash"]


@dataclass(frozen=True, slots=True)
class PiiSpan:
    """One PII span: ``text[start:end] == span.text`` (character offsets)."""

    kind: str
    start: int
    end: int
    text: str

    def __str__(self) -> str:
        return f"{self.kind} [{self.start}, {self.end}) {self.text!r}"


@dataclass(frozen=True, slots=True)
class RepetitionStats:
    """Every Gopher repetition metric of one document (fractions of ``len(text)``
    for the character metrics), and the removal reason under Gopher's
    thresholds (``None`` keeps the document)."""

    chars: int
    words: int
    lines: int
    paragraphs: int
    dup_line_frac: float
    dup_para_frac: float
    dup_line_char_frac: float
    dup_para_char_frac: float
    top_2_gram_char_frac: float
    top_3_gram_char_frac: float
    top_4_gram_char_frac: float
    dup_5_gram_char_frac: float
    dup_6_gram_char_frac: float
    dup_7_gram_char_frac: float
    dup_8_gram_char_frac: float
    dup_9_gram_char_frac: float
    dup_10_gram_char_frac: float
    reason: str | None

    @property
    def keep(self) -> bool:
        return self.reason is None

    def to_dict(self) -> dict[str, float | int | str | None]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class QualityStats:
    """The quantities the Gopher quality filter thresholds, and its removal
    reason (``None`` keeps the document)."""

    words: int
    non_symbol_words: int
    mean_word_length: float
    hash_ratio: float
    ellipsis_ratio: float
    bullet_lines_ratio: float
    ellipsis_lines_ratio: float
    alpha_words_ratio: float
    stop_words: int
    reason: str | None

    @property
    def keep(self) -> bool:
        return self.reason is None

    def to_dict(self) -> dict[str, float | int | str | None]:
        return asdict(self)


def _kinds(kinds: Iterable[str] | None) -> list[str] | None:
    if kinds is None:
        return None
    if isinstance(kinds, str):
        return [kinds]
    return list(kinds)


def normalize_text(text: str) -> str:
    """The one normalisation every hasher shares (the seed guide's ``_clean_text``
    plus NFC): whitespace runs become one space, control characters are removed,
    the text is put in Unicode NFC and stripped."""
    return _core.normalize_text(text)


def normalize_texts(texts: Sequence[str]) -> list[str]:
    """:func:`normalize_text` over a list, in parallel."""
    return _core.normalize_texts(list(texts))


def word_tokens(text: str) -> list[str]:
    """The words the Gopher filters count: datatrove's English tokens (spaCy's
    rules: punctuation split off, contractions split, URLs kept whole)."""
    return _core.word_tokens(text)


def _span(t: tuple[str, int, int, int, int, str]) -> PiiSpan:
    return PiiSpan(t[0], t[1], t[2], t[5])


def scan_pii(text: str, kinds: Iterable[str] | None = None) -> list[PiiSpan]:
    """PII spans of ``text``, sorted by start and non-overlapping.

    Kinds: EMAIL, PHONE, SSN, CREDIT_CARD (Luhn-checked), IPV4, IPV6, IBAN
    (mod-97), AWS_ACCESS_KEY, AWS_SECRET_KEY, GITHUB_TOKEN, GITLAB_TOKEN,
    SLACK_TOKEN, PRIVATE_KEY, JWT, SECRET (``password=``-style assignments),
    URL_CREDENTIALS. ``kinds`` restricts the scan (case-insensitive names).
    """
    return [_span(t) for t in _core.pii_scan(text, _kinds(kinds))]


def scan_pii_batch(texts: Sequence[str], kinds: Iterable[str] | None = None) -> list[list[PiiSpan]]:
    """:func:`scan_pii` over a list, in parallel, in input order."""
    return [[_span(t) for t in spans] for spans in _core.pii_scan_batch(list(texts), _kinds(kinds))]


def redact_pii(
    text: str | Sequence[str],
    mode: RedactMode = "placeholder",
    salt: str | None = None,
    kinds: Iterable[str] | None = None,
    *,
    return_counts: bool = False,
):
    """Redact PII in one text or a list of texts.

    ``mode``: ``"placeholder"`` (``[EMAIL]``, ``[PHONE]``, ``[SSN]`` as in the
    seed guide, ``[CREDIT_CARD]``, ...), ``"mask"`` (one ``*`` per character) or
    ``"hash"`` (``[EMAIL:<16 hex>]``, the xxh3 of ``salt`` and the value, so
    equal values stay linkable). Returns the redacted text (or list), plus
    ``{kind: count}`` when ``return_counts`` is true.
    """
    if isinstance(text, str):
        out, counts = _core.pii_redact(text, mode, salt, _kinds(kinds))
    else:
        out, counts = _core.pii_redact_batch(list(text), mode, salt, _kinds(kinds))
    return (out, counts) if return_counts else out


def _rep(d: dict, reason: str | None) -> RepetitionStats:
    return RepetitionStats(reason=reason, **d)


def repetition_stats(text: str) -> RepetitionStats:
    """Every Gopher repetition metric of ``text`` and the verdict under Gopher's
    thresholds (Rae et al. 2021, Table A1)."""
    d, reason = _core.repetition_scan(text)
    return _rep(d, reason)


def repetition_stats_batch(texts: Sequence[str]) -> list[RepetitionStats]:
    """:func:`repetition_stats` over a list, in parallel, in input order."""
    return [_rep(d, r) for d, r in _core.repetition_scan_batch(list(texts))]


def repetition_verdict(text: str) -> str | None:
    """The Gopher repetition removal reason of ``text`` (e.g.
    ``"gopher_rep_dup_line_frac"``), or ``None`` to keep it."""
    return _core.repetition_scan(text)[1]


def gopher_quality_batch(texts: Sequence[str], **thresholds) -> list[QualityStats]:
    """Gopher quality statistics and verdicts for a list of texts, in parallel.

    Keyword thresholds (defaults are Gopher's): ``min_doc_words=50``,
    ``max_doc_words=100000``, ``min_avg_word_length=3``,
    ``max_avg_word_length=10``, ``max_symbol_word_ratio=0.1``,
    ``max_bullet_lines_ratio=0.9``, ``max_ellipsis_lines_ratio=0.3``,
    ``min_alpha_words_ratio=0.8``, ``min_stop_words=2``, ``stop_words``; a
    negative value disables a check.
    """
    return [QualityStats(reason=r, **d) for d, r in _core.gopher_quality_batch(list(texts), **thresholds)]


def gopher_quality_stats(text: str, **thresholds) -> QualityStats:
    """:func:`gopher_quality_batch` for one text."""
    return gopher_quality_batch([text], **thresholds)[0]


def gopher_quality(text: str, **thresholds) -> str | None:
    """The Gopher quality removal reason of ``text`` (datatrove's reason names,
    e.g. ``"gopher_short_doc"``), or ``None`` to keep it."""
    return gopher_quality_batch([text], **thresholds)[0].reason


def gopher_filters_batch(texts: Sequence[str], *, quality: bool = True, repetition: bool = True) -> list[str | None]:
    """Both Gopher filters with Gopher's thresholds, tokenizing each text once:
    the repetition filter first, then the quality filter (the order of
    datatrove's FineWeb pipeline). Returns a removal reason or ``None`` per text."""
    return _core.gopher_filters_batch(list(texts), quality=quality, repetition=repetition)


def length_check(
    text: str,
    min_chars: int | None = None,
    max_chars: int | None = None,
    min_words: int | None = None,
    max_words: int | None = None,
) -> str | None:
    """The first bound ``text`` violates (``too_few_chars``, ``too_many_chars``,
    ``too_few_words``, ``too_many_words``), or ``None``. Characters are code
    points and words are whitespace-separated, as in the seed guide."""
    return _core.length_check(text, min_chars, max_chars, min_words, max_words)


def seed_checks(instruction: str, output: str) -> tuple[list[str], bool]:
    """The seed guide's ``DataValidator.validate_example`` issues (the token
    count aside, it needs a tokenizer) and its ``DataCleaner._quality_check``
    verdict, as ``(issues, quality_ok)``."""
    return _core.seed_checks(instruction, output)

"""``CleanConfig``: every step of the clean pipeline, each on/off, with defaults from the literature.

Load one from YAML with :meth:`CleanConfig.from_yaml` (unknown keys are errors) or build it in Python::

    >>> from tunesmith.clean import CleanConfig
    >>> cfg = CleanConfig(near_dedup={"threshold": 0.85}, pii={"action": "drop"})
    >>> cfg.near_dedup.num_perm, cfg.pii.action
    (256, 'drop')

References:
    * Rae et al. 2021, "Scaling Language Models: Methods, Analysis & Insights from Training Gopher"
      (arXiv:2112.11446), section A.1.1 (quality heuristics) and Table A1 (repetition thresholds).
    * Broder 1997, "On the resemblance and containment of documents" (MinHash); Leskovec, Rajaraman,
      Ullman, *Mining of Massive Datasets*, §3.4 (LSH banding).
    * Lee et al. 2022, "Deduplicating Training Data Makes Language Models Better" (arXiv:2107.06499):
      MinHash over 5-gram words, Jaccard 0.8.
    * The seed guide's ``DataCleaningConfig`` (length bounds 10..4096 characters) and ``DataValidator``.
"""

from __future__ import annotations

import pathlib
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tunesmith.errors import ConfigError

__all__ = [
    "CleanConfig",
    "ExactDedupConfig",
    "GopherQualityConfig",
    "GopherRepetitionConfig",
    "LengthConfig",
    "NearDedupConfig",
    "PiiConfig",
    "SeedChecksConfig",
]


class _Step(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="run this step")


class LengthConfig(_Step):
    """Bounds on plain-text records, in normalised characters and whitespace words (``None`` = no bound)."""

    min_chars: int | None = Field(10, ge=0, description="the seed guide's minimum length (10 characters)")
    max_chars: int | None = Field(None, ge=0, description="upper bound on characters")
    min_words: int | None = Field(None, ge=0, description="lower bound on words")
    max_words: int | None = Field(None, ge=0, description="upper bound on words")


class SeedChecksConfig(_Step):
    """The seed guide's rules for instruction and chat records: ``DataCleaningConfig`` length bounds on
    instruction+input and output (characters), plus ``DataValidator``/``_quality_check`` (empty fields,
    output under 5 words, 3-gram unique ratio < 0.3, most common word > 30 %, unfinished long output)."""

    length: bool = Field(True, description="apply the length bounds")
    min_input_length: int = Field(10, ge=0)
    max_input_length: int = Field(4096, ge=0)
    min_output_length: int = Field(10, ge=0)
    max_output_length: int = Field(4096, ge=0)


class GopherQualityConfig(_Step):
    """Gopher quality filter (Rae et al. 2021, A.1.1) on plain-text records; thresholds are Gopher's."""

    min_doc_words: int | None = 50
    max_doc_words: int | None = 100_000
    min_avg_word_length: float | None = 3.0
    max_avg_word_length: float | None = 10.0
    max_symbol_word_ratio: float | None = 0.1
    max_bullet_lines_ratio: float | None = 0.9
    max_ellipsis_lines_ratio: float | None = 0.3
    min_alpha_words_ratio: float | None = 0.8
    min_stop_words: int | None = 2
    stop_words: list[str] = Field(default_factory=lambda: ["the", "be", "to", "of", "and", "that", "have", "with"])


class GopherRepetitionConfig(_Step):
    """Gopher repetition filter (Rae et al. 2021, Table A1) on plain-text records."""

    dup_line_frac: float = 0.30
    dup_para_frac: float = 0.30
    dup_line_char_frac: float = 0.20
    dup_para_char_frac: float = 0.20
    top_ngram_char_frac: tuple[float, float, float] = (0.20, 0.18, 0.16)
    dup_ngram_char_frac: tuple[float, float, float, float, float, float] = (0.15, 0.14, 0.13, 0.12, 0.11, 0.10)


class ExactDedupConfig(_Step):
    """Exact dedup: xxh3-128 of the normalised content (instruction+input+output for instruction records)."""


class NearDedupConfig(_Step):
    """MinHash + LSH near-duplicate removal; the first record of a group is kept.

    Defaults follow Lee et al. 2022 (5-gram words, pairs at Jaccard ≥ 0.8 are duplicates) with 256 permutations;
    the cut on the *estimated* Jaccard is 0.77, one estimator standard deviation below 0.8. Banding is chosen so a pair
    at Jaccard ``threshold - 0.05`` becomes a candidate with probability ≥ 0.995; candidates are then
    verified by the estimated Jaccard over the whole signature.
    """

    num_perm: int = Field(256, ge=1, le=4096)
    ngram: int = Field(5, ge=1, le=64)
    unit: Literal["word", "char"] = "word"
    seed: int = Field(0x74756E65, ge=0)
    threshold: float = Field(
        0.77,
        ge=0.0,
        le=1.0,
        description="estimated-Jaccard cut; 0.77 at 256 permutations catches pairs at true Jaccard >= 0.8",
    )
    bands: int | None = Field(None, ge=1)
    rows: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _bands_rows(self) -> NearDedupConfig:
        if (self.bands is None) != (self.rows is None):
            raise ValueError("near_dedup.bands and near_dedup.rows must be set together")
        if self.bands is not None and self.rows is not None and self.bands * self.rows > self.num_perm:
            raise ValueError(f"near_dedup.bands × rows ({self.bands}×{self.rows}) exceeds num_perm ({self.num_perm})")
        return self


class PiiConfig(_Step):
    """PII and secrets: ``redact`` (placeholder ``[EMAIL]`` as in the seed guide, ``mask`` or salted ``hash``),
    ``drop`` the record, or only ``detect`` (count)."""

    action: Literal["redact", "drop", "detect"] = "redact"
    mode: Literal["placeholder", "mask", "hash"] = "placeholder"
    salt: str = ""
    kinds: list[str] | None = Field(None, description="PII kinds to look for (default all), e.g. ['EMAIL', 'SSN']")


class CleanConfig(BaseModel):
    """Configuration of :class:`tunesmith.clean.Pipeline`; unknown keys are rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text_field: str = Field("text", description="key of the text in plain-text records")
    normalize: bool = Field(True, description="hash and length-check NFC, control-free, whitespace-collapsed text")
    write_normalized: bool = Field(False, description="write the normalised text into kept records")
    length: LengthConfig = LengthConfig()
    seed_checks: SeedChecksConfig = SeedChecksConfig()
    gopher_quality: GopherQualityConfig = GopherQualityConfig()
    gopher_repetition: GopherRepetitionConfig = GopherRepetitionConfig()
    exact_dedup: ExactDedupConfig = ExactDedupConfig()
    near_dedup: NearDedupConfig = NearDedupConfig()
    pii: PiiConfig = PiiConfig()
    strict: bool = Field(False, description="stop at the first malformed record instead of rejecting it")
    fsync: bool = Field(
        False,
        description="force every output to disk before renaming it into place, so it survives a power loss too "
        "(without it an interrupted or crashed run still leaves the old file or the whole new one)",
    )
    chunk_mb: float = Field(2.0, gt=0, description="MB of input per parallel chunk")

    @classmethod
    def from_yaml(cls, path: str | pathlib.Path) -> CleanConfig:
        """Load a YAML file; errors name the file and the offending key."""
        import yaml
        from pydantic import ValidationError

        path = pathlib.Path(path)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as e:
            raise ConfigError(f"{path}: {e}") from e
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level, got {type(data).__name__}")
        data = data.get("clean", data)
        try:
            return cls.model_validate(data)
        except ValidationError as e:
            problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors())
            raise ConfigError(f"{path}: {problems}") from e

    @classmethod
    def coerce(cls, config: CleanConfig | dict[str, Any] | str | pathlib.Path | None, **overrides: Any) -> CleanConfig:
        """A config from a config, a dict, a YAML path or ``None`` (defaults), with top-level overrides."""
        from pydantic import ValidationError

        if isinstance(config, (str, pathlib.Path)):
            config = cls.from_yaml(config)
        base = config.model_dump() if isinstance(config, CleanConfig) else dict(config or {})
        base.update(overrides)
        try:
            return cls.model_validate(base)
        except ValidationError as e:
            problems = "; ".join(f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors())
            raise ConfigError(f"invalid clean config: {problems}") from e

    def to_core(self) -> dict[str, Any]:
        """The flat dict ``tunesmith._core.CleanPipeline`` takes."""
        g, r, n, p, s, ln = self.gopher_quality, self.gopher_repetition, self.near_dedup, self.pii, self.seed_checks, self.length
        return {
            "text_field": self.text_field,
            "normalize": self.normalize,
            "write_normalized": self.write_normalized,
            "length": ln.enabled,
            "min_chars": ln.min_chars,
            "max_chars": ln.max_chars,
            "min_words": ln.min_words,
            "max_words": ln.max_words,
            "seed_length": s.enabled and s.length,
            "min_input_length": s.min_input_length,
            "max_input_length": s.max_input_length,
            "min_output_length": s.min_output_length,
            "max_output_length": s.max_output_length,
            "seed_checks": s.enabled,
            "gopher_quality": g.enabled,
            "gq_min_doc_words": g.min_doc_words,
            "gq_max_doc_words": g.max_doc_words,
            "gq_min_avg_word_length": g.min_avg_word_length,
            "gq_max_avg_word_length": g.max_avg_word_length,
            "gq_max_symbol_word_ratio": g.max_symbol_word_ratio,
            "gq_max_bullet_lines_ratio": g.max_bullet_lines_ratio,
            "gq_max_ellipsis_lines_ratio": g.max_ellipsis_lines_ratio,
            "gq_min_alpha_words_ratio": g.min_alpha_words_ratio,
            "gq_min_stop_words": g.min_stop_words,
            "gq_stop_words": list(g.stop_words),
            "gopher_repetition": r.enabled,
            "gr_dup_line_frac": r.dup_line_frac,
            "gr_dup_para_frac": r.dup_para_frac,
            "gr_dup_line_char_frac": r.dup_line_char_frac,
            "gr_dup_para_char_frac": r.dup_para_char_frac,
            "gr_top_ngram_char_frac": list(r.top_ngram_char_frac),
            "gr_dup_ngram_char_frac": list(r.dup_ngram_char_frac),
            "exact_dedup": self.exact_dedup.enabled,
            "near_dedup": n.enabled,
            "nd_num_perm": n.num_perm,
            "nd_ngram": n.ngram,
            "nd_unit": n.unit,
            "nd_seed": n.seed,
            "nd_threshold": n.threshold,
            "nd_bands": n.bands,
            "nd_rows": n.rows,
            "pii": p.enabled,
            "pii_action": p.action,
            "pii_mode": p.mode,
            "pii_salt": p.salt,
            "pii_kinds": p.kinds,
            "strict": self.strict,
            "fsync": self.fsync,
            "chunk_bytes": max(1, int(self.chunk_mb * 1e6)),
        }

//! The streaming clean pass.
//!
//! Input is read in chunks of about [`PipelineConfig::chunk_bytes`] (the first
//! ones smaller, so the workers start at once), one ahead of the one being
//! analysed. Each chunk goes through three stages:
//!
//! 1. per record, in parallel on the current rayon pool: UTF-8 check, JSON
//!    parse, normalisation, length / seed / Gopher filters, PII, and the exact
//!    hash and MinHash signature of the survivors;
//! 2. one ordered, sequential stage that owns the dedup state (exact index,
//!    LSH index), so the first occurrence in *input order* is kept whatever the
//!    thread count;
//! 3. writing of kept, removed and rejected records, in input order.
//!
//! Every line read ends in exactly one of `kept`, `removed` (with a reason) or
//! `rejected` (with file, line and error): `read == kept + removed + rejected`.
//!
//! Stages overlap, all as tasks of the rayon pool (a reader or writer thread of
//! their own would compete with the pool for the cores): the next block is
//! read (whole lines: a slice of the mapped file, or one buffer for compressed
//! input; no per-line allocation) and the previous one written while the
//! current one is analysed; kept lines go out as the original bytes, runs of
//! adjacent kept lines as one slice of the block, straight from the mapping. Plain-text records take a fast path:
//! [`crate::io::locate_normalized_text`] validates the line, finds the text
//! literal and decodes + normalises it in one pass (64 bytes at a time,
//! stopping only at escapes and whitespace runs) into a per-thread buffer,
//! and every step reads that one normalised text.
//!
//! Near-duplicate clusters keep their *first* record. Keeping the longest
//! (as `MinHashDeduper.cluster(keep="longest")` does for a batch in memory)
//! does not fit one streaming pass: a record is known to be the longest of its
//! cluster only once the whole input has been seen, so it needs either
//! deferred writes (every kept record held, or spilled, until the end: memory
//! or disk the size of the output) or a second pass (pass 1 computes the
//! signatures and each cluster's longest member, pass 2 re-reads and writes:
//! twice the read and parse cost, plus one cluster id per record). Neither is
//! done here; for that choice, cluster a batch with `MinHashDeduper.cluster`.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;

use crate::dedup::exact::{normalize_fast, normalize_into, HashBuilder};
use crate::dedup::{content_hash, ExactIndex, LshIndex, LshParams, MinHasher, Shingling};
use crate::io::{
    locate_normalized_text, locate_text, open_lines, parse_record, splice, unescape_into, AtomicWriter, CleanError, FieldRole, LineBlock,
    RecordShape, TextFields,
};
use crate::pii::{self, PiiCounts, PiiKind, RedactMode};
use crate::quality::gopher::GopherQualityConfig;
use crate::quality::length::{length_verdict, seed_length_ok, LengthLimits, SeedLengthConfig};
use crate::quality::repetition::RepetitionThresholds;
use crate::quality::validator::{seed_quality_ok, validate_fields};

/// Near-duplicate detection settings.
#[derive(Debug, Clone, PartialEq)]
pub struct NearDedupConfig {
    pub num_perm: usize,
    pub shingling: Shingling,
    pub seed: u64,
    /// Estimated Jaccard at or above which a record is a near-duplicate. The
    /// default 0.77 with 256 permutations sits about one standard deviation of
    /// the estimator below 0.8, so pairs at true Jaccard ≥ 0.8 are caught.
    pub threshold: f64,
    /// Banding; `None` picks one from the threshold ([`LshParams::for_threshold`]).
    pub bands: Option<LshParams>,
}

impl Default for NearDedupConfig {
    fn default() -> Self {
        Self {
            num_perm: 256,
            shingling: Shingling::Words(5),
            seed: 0x7475_6e65,
            threshold: 0.77,
            bands: None,
        }
    }
}

/// What to do with a record that contains PII.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PiiAction {
    /// Replace the spans (the record is kept).
    Redact(RedactMode),
    /// Remove the record (reason `pii`).
    Drop,
    /// Count only.
    Detect,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PiiConfig {
    pub action: PiiAction,
    /// Kinds to look for; `None` = all.
    pub kinds: Option<Vec<PiiKind>>,
}

/// Every step of the pass; `None` / `false` switches a step off.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineConfig {
    pub fields: TextFields,
    /// Hash and length-check the normalised text ([`crate::text::normalize`]).
    pub normalize: bool,
    /// Write the normalised text back into kept records (the seed's `_clean_text`).
    pub write_normalized: bool,
    /// Bounds for plain-text records (normalised characters / words).
    pub length: Option<LengthLimits>,
    /// The seed guide's length rule for instruction and chat records.
    pub seed_length: Option<SeedLengthConfig>,
    /// The seed guide's validator and quality checks for instruction and chat records.
    pub seed_checks: bool,
    /// Gopher quality filter on plain-text records.
    pub gopher_quality: Option<GopherQualityConfig>,
    /// Gopher repetition filter on plain-text records.
    pub gopher_repetition: Option<RepetitionThresholds>,
    pub exact_dedup: bool,
    pub near_dedup: Option<NearDedupConfig>,
    pub pii: Option<PiiConfig>,
    /// Stop at the first rejected record instead of accounting for it.
    pub strict: bool,
    /// `fsync` every output before its rename (durable across a power loss).
    pub fsync: bool,
    pub chunk_bytes: usize,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            fields: TextFields::default(),
            normalize: true,
            write_normalized: false,
            length: Some(LengthLimits {
                min_chars: Some(10),
                max_chars: None,
                min_words: None,
                max_words: None,
            }),
            seed_length: Some(SeedLengthConfig::default()),
            seed_checks: true,
            gopher_quality: Some(GopherQualityConfig::default()),
            gopher_repetition: Some(RepetitionThresholds::default()),
            exact_dedup: true,
            near_dedup: Some(NearDedupConfig::default()),
            pii: Some(PiiConfig {
                action: PiiAction::Redact(RedactMode::Placeholder),
                kinds: None,
            }),
            strict: false,
            fsync: false,
            chunk_bytes: 2 << 20,
        }
    }
}

/// A record that could not be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub file: String,
    pub line: u64,
    pub error: String,
}

/// Counts of a run (cumulative over every call on one [`Pipeline`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Report {
    pub read: u64,
    pub kept: u64,
    pub removed: u64,
    pub rejected: u64,
    pub removed_by_reason: BTreeMap<String, u64>,
    pub pii_by_kind: BTreeMap<String, u64>,
    /// Kept records with at least one removed duplicate (exact or near).
    pub clusters: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub seconds: f64,
    /// The first [`REJECTION_SAMPLES`] rejections.
    pub rejections: Vec<Rejection>,
    /// Entries and approximate bytes of the dedup state.
    pub exact_entries: u64,
    pub lsh_entries: u64,
    pub state_bytes: u64,
}

pub const REJECTION_SAMPLES: usize = 100;

impl Report {
    pub fn balanced(&self) -> bool {
        self.read == self.kept + self.removed + self.rejected
    }
}

/// Side-file and output paths of a file run.
#[derive(Debug, Clone, Default)]
pub struct Outputs {
    pub kept: Option<PathBuf>,
    pub removed: Option<PathBuf>,
    pub rejected: Option<PathBuf>,
}

/// The fate of one in-memory text.
#[derive(Debug, Clone, PartialEq)]
pub enum TextOutcome {
    /// Kept; `Some` when a step (PII, normalisation) changed the text.
    Kept(Option<String>),
    /// Removed for `reason`; for duplicates, the index of the text kept.
    Removed {
        reason: String,
        duplicate_of: Option<u64>,
    },
}

enum Verdict {
    Reject(String),
    Remove(Cow<'static, str>),
    Pass,
}

/// Stage-1 result for one record.
struct Analysis {
    verdict: Verdict,
    hash: u128,
    signature: Vec<u32>,
    band_keys: Vec<u64>,
    /// New values for fields a step changed, with the span of the literal they replace.
    rewrites: Vec<(Range<usize>, String)>,
    pii: PiiCounts,
}

impl Analysis {
    fn stop(verdict: Verdict) -> Self {
        Self {
            verdict,
            hash: 0,
            signature: Vec::new(),
            band_keys: Vec::new(),
            rewrites: Vec::new(),
            pii: PiiCounts::default(),
        }
    }
}

/// Where a record came from, packed as `file << 40 | line` so dedup state keeps 8 bytes per record.
fn location(file: usize, line: u64) -> u64 {
    ((file as u64) << 40) | (line & ((1 << 40) - 1))
}

/// The removal reason for a seed-validator issue string.
pub fn validator_reason(issue: &str) -> &'static str {
    use crate::quality::validator::{EMPTY_INSTRUCTION, EMPTY_OUTPUT, OUTPUT_REPETITION, OUTPUT_TOO_SHORT};
    match issue {
        i if i == EMPTY_INSTRUCTION => "validator_empty_instruction",
        i if i == EMPTY_OUTPUT => "validator_empty_output",
        i if i == OUTPUT_TOO_SHORT => "validator_output_too_short",
        i if i == OUTPUT_REPETITION => "validator_output_repetition",
        _ => "validator",
    }
}

/// The PII step over a record's text fields: the rewritten value of each changed field (by field index; the
/// normalised text where `write_normalized` asks for it, redacted where PII is redacted) and the counts found.
pub fn pii_rewrites<S: AsRef<str>, T: AsRef<str>>(
    cfg: &PipelineConfig,
    values: &[S],
    normalized: &[T],
) -> (Vec<(usize, String)>, PiiCounts) {
    let mut rewrites = Vec::new();
    let mut counts = PiiCounts::default();
    for (i, (value, norm)) in values.iter().zip(normalized).enumerate() {
        let (value, norm) = (value.as_ref(), norm.as_ref());
        let shown: &str = if cfg.write_normalized { norm } else { value };
        let mut changed: Option<String> = (cfg.write_normalized && norm != value).then(|| norm.to_string());
        if let Some(p) = &cfg.pii {
            match &p.action {
                PiiAction::Redact(mode) => {
                    // Borrowed (no copy) when the field has no PII.
                    let (text, found) = pii::redact_cow(shown, mode, p.kinds.as_deref());
                    if found.total() > 0 {
                        changed = Some(text.into_owned());
                    }
                    counts.add(&found);
                }
                PiiAction::Drop | PiiAction::Detect => {
                    for span in pii::scan_kinds(shown, p.kinds.as_deref()) {
                        counts.0[span.kind.index()] += 1;
                    }
                }
            }
        }
        if let Some(text) = changed {
            rewrites.push((i, text));
        }
    }
    (rewrites, counts)
}

/// The exact-dedup hash of a record's normalised fields: instruction records hash instruction, input and output
/// (a missing `input` like an empty one, as in the seed guide), others every text field.
pub fn record_hash<S: AsRef<str>>(shape: RecordShape, roles: &[FieldRole], normalized: &[S]) -> u128 {
    if shape != RecordShape::Instruction {
        return content_hash(normalized);
    }
    let mut parts = [""; 3];
    for (role, value) in roles.iter().zip(normalized) {
        match role {
            FieldRole::Instruction => parts[0] = value.as_ref(),
            FieldRole::Input => parts[1] = value.as_ref(),
            _ => parts[2] = value.as_ref(),
        }
    }
    content_hash(&parts)
}

fn join_fields<'a>(values: &[&'a str]) -> Cow<'a, str> {
    match values {
        [one] => Cow::Borrowed(one),
        _ => Cow::Owned(values.join("\n")),
    }
}

/// Buffers one stage-1 worker reuses from record to record, so that decoding
/// and normalising a plain-text record allocates nothing in the common case.
#[derive(Default)]
struct Scratch {
    unescaped: String,
    normalized: String,
}

/// Scratch buffers larger than this are freed after use rather than kept by
/// the worker thread (one 100 MB record must not pin 100 MB per thread).
const SCRATCH_KEEP: usize = 4 << 20;

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

/// Run `f` with this thread's scratch buffers.
fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut s) => {
            let r = f(&mut s);
            let Scratch { unescaped, normalized } = &mut *s;
            for buf in [unescaped, normalized] {
                if buf.capacity() > SCRATCH_KEEP {
                    *buf = String::new();
                }
            }
            r
        }
        // Re-entered on this thread (a nested rayon job): use fresh buffers.
        Err(_) => f(&mut Scratch::default()),
    })
}

/// Borrow the normalised form of `value`: itself when already normal, else `buf`.
fn normalized_in<'a>(value: &'a str, buf: &'a mut String, normalize: bool) -> &'a str {
    if normalize && normalize_into(value, buf) {
        buf
    } else {
        value
    }
}

/// The streaming cleaner: configuration plus the dedup state it accumulates.
///
/// The two halves are separate so that a block can be analysed (shared,
/// read-only [`Analyzer`]) while the block before it is deduplicated in input
/// order ([`DedupState`], the only mutable part).
pub struct Pipeline {
    analyzer: Analyzer,
    state: DedupState,
}

/// Per-record work that needs no other record: parse, normalise, filter, PII,
/// hashes and MinHash signature.
struct Analyzer {
    config: PipelineConfig,
    hasher: Option<MinHasher>,
    bands: Option<LshParams>,
}

/// What the records seen so far leave behind: dedup indexes and the counts.
struct DedupState {
    exact_dedup: bool,
    strict: bool,
    exact: ExactIndex,
    lsh: Option<LshIndex>,
    /// Locations of kept records that have a removed duplicate.
    dup_targets: HashSet<u64, HashBuilder>,
    report: Report,
    texts_seen: u64,
    /// Names of the input files of the current run, by file index.
    file_names: Vec<String>,
}

/// File index used for in-memory texts (their "line" is the 1-based position).
const TEXTS_FILE: usize = (1 << 24) - 1;

impl Pipeline {
    pub fn new(config: PipelineConfig) -> Result<Self, CleanError> {
        if config.chunk_bytes == 0 {
            return Err(CleanError::config("chunk_bytes", "must be positive"));
        }
        let (hasher, bands, lsh) = match &config.near_dedup {
            Some(near) => {
                let hasher = MinHasher::new(near.num_perm, near.shingling, near.seed)
                    .map_err(|e| CleanError::config("near_dedup", e.to_string()))?;
                let bands = near
                    .bands
                    .unwrap_or_else(|| LshParams::for_threshold(near.num_perm, near.threshold));
                let lsh = LshIndex::new(near.num_perm, bands, near.threshold)
                    .map_err(|e| CleanError::config("near_dedup", e.to_string()))?;
                (Some(hasher), Some(bands), Some(lsh))
            }
            None => (None, None, None),
        };
        let state = DedupState {
            exact_dedup: config.exact_dedup,
            strict: config.strict,
            exact: ExactIndex::new(),
            lsh,
            dup_targets: HashSet::default(),
            report: Report::default(),
            texts_seen: 0,
            file_names: Vec::new(),
        };
        Ok(Self {
            analyzer: Analyzer { config, hasher, bands },
            state,
        })
    }

    pub fn config(&self) -> &PipelineConfig {
        &self.analyzer.config
    }

    pub fn report(&self) -> Report {
        let st = &self.state;
        let mut r = st.report.clone();
        r.exact_entries = st.exact.len() as u64;
        r.lsh_entries = st.lsh.as_ref().map_or(0, |l| l.len() as u64);
        r.state_bytes = (st.exact.memory_bytes()
            + st.lsh.as_ref().map_or(0, LshIndex::memory_bytes)
            + st.dup_targets.capacity() * 9) as u64;
        r.clusters = st.dup_targets.len() as u64;
        r
    }
}

impl Analyzer {
    /// Whether a step of a plain-text record reads its text as decoded rather
    /// than normalised: the Gopher filters, PII, and writing the normalised
    /// text back (it compares the two). Keep in step with [`Pipeline::analyze`].
    fn reads_raw_text(&self) -> bool {
        let cfg = &self.config;
        cfg.gopher_quality.is_some() || cfg.gopher_repetition.is_some() || cfg.pii.is_some() || cfg.write_normalized
    }

    /// Stage 1 for one record given as its text fields, their normalised
    /// forms (the one normalisation every step shares) and the spans of their
    /// literals in the line (where a rewrite goes).
    fn analyze(
        &self,
        shape: RecordShape,
        roles: &[FieldRole],
        values: &[&str],
        normalized: &[&str],
        spans: &[Range<usize>],
    ) -> Analysis {
        let cfg = &self.config;
        if shape == RecordShape::Text {
            let raw = values[0];
            if let Some(limits) = &cfg.length {
                if let Some(reason) = length_verdict(normalized[0], limits) {
                    return Analysis::stop(Verdict::Remove(Cow::Borrowed(reason)));
                }
            }
            // Quality first, then repetition, on one tokenization; the repetition checks stop at the first
            // that fails (the same reasons as computing every statistic).
            if let Some(reason) = crate::quality::gopher_quality_then_repetition(
                raw,
                cfg.gopher_quality.as_ref(),
                cfg.gopher_repetition.as_ref(),
            ) {
                return Analysis::stop(Verdict::Remove(Cow::Borrowed(reason)));
            }
        } else {
            let (mut instruction, mut input, mut output) = ("", "", "");
            for (role, &value) in roles.iter().zip(normalized) {
                match role {
                    FieldRole::Instruction => instruction = value,
                    FieldRole::Input => input = value,
                    FieldRole::Output => output = value,
                    FieldRole::Turn { assistant: true } => output = value,
                    FieldRole::Turn { assistant: false } if instruction.is_empty() => instruction = value,
                    FieldRole::Turn { .. } | FieldRole::Text => {}
                }
            }
            if let Some(seed) = &cfg.seed_length {
                if !seed_length_ok(instruction, input, output, seed) {
                    return Analysis::stop(Verdict::Remove(Cow::Borrowed("seed_length")));
                }
            }
            if cfg.seed_checks {
                if let Some(issue) = validate_fields(instruction, output).first() {
                    return Analysis::stop(Verdict::Remove(Cow::Borrowed(validator_reason(issue))));
                }
                if !seed_quality_ok(output) {
                    return Analysis::stop(Verdict::Remove(Cow::Borrowed("seed_quality")));
                }
            }
        }
        let (rewrites, counts) = pii_rewrites(cfg, values, normalized);
        let rewrites: Vec<(Range<usize>, String)> =
            rewrites.into_iter().map(|(i, text)| (spans.get(i).cloned().unwrap_or_default(), text)).collect();
        if counts.total() > 0 && matches!(cfg.pii.as_ref().map(|p| &p.action), Some(PiiAction::Drop)) {
            let mut a = Analysis::stop(Verdict::Remove(Cow::Borrowed("pii")));
            a.pii = counts;
            return a;
        }
        let hash = if cfg.exact_dedup { record_hash(shape, roles, normalized) } else { 0 };
        let (signature, band_keys) = match (&self.hasher, &self.bands) {
            (Some(h), Some(b)) => {
                let sig = h.signature(&join_fields(normalized));
                let keys = b.band_keys(&sig);
                (sig, keys)
            }
            _ => (Vec::new(), Vec::new()),
        };
        Analysis {
            verdict: Verdict::Pass,
            hash,
            signature,
            band_keys,
            rewrites,
            pii: counts,
        }
    }

}

impl DedupState {
    /// Stage 2: dedup in input order. Returns the kept location a duplicate points to.
    fn dedup(&mut self, a: &mut Analysis, loc: u64) -> Option<u64> {
        if !matches!(a.verdict, Verdict::Pass) {
            return None;
        }
        if self.exact_dedup {
            if let Some(first) = self.exact.check_insert(a.hash, loc) {
                a.verdict = Verdict::Remove(Cow::Borrowed("exact_duplicate"));
                return Some(first);
            }
        }
        if let Some(lsh) = self.lsh.as_mut() {
            if let Some((kept, _)) = lsh.find_similar(&a.signature, &a.band_keys) {
                a.verdict = Verdict::Remove(Cow::Borrowed("near_duplicate"));
                return Some(kept);
            }
            lsh.insert(loc, &a.signature, &a.band_keys);
        }
        None
    }

    fn count(&mut self, a: &Analysis, dup_of: Option<u64>) {
        self.report.read += 1;
        match &a.verdict {
            Verdict::Pass => self.report.kept += 1,
            Verdict::Remove(reason) => {
                self.report.removed += 1;
                *self.report.removed_by_reason.entry(reason.to_string()).or_default() += 1;
            }
            Verdict::Reject(_) => self.report.rejected += 1,
        }
        // PII is counted in the records written out (kept, or removed for PII), not in duplicates.
        let counts_pii = match &a.verdict {
            Verdict::Pass => true,
            Verdict::Remove(reason) => reason == "pii",
            Verdict::Reject(_) => false,
        };
        if counts_pii {
            for (kind, n) in a.pii.nonzero() {
                *self.report.pii_by_kind.entry(kind.name().to_string()).or_default() += n;
            }
        }
        if let Some(target) = dup_of {
            self.dup_targets.insert(target);
        }
    }

}

impl Pipeline {
    /// Clean in-memory texts (each one plain-text record). Dedup state carries
    /// over between calls; `duplicate_of` indexes every text this pipeline has seen.
    pub fn run_texts<S: AsRef<str> + Sync>(&mut self, texts: &[S]) -> Vec<TextOutcome> {
        let start = Instant::now();
        let analyzer = &self.analyzer;
        let normalize = analyzer.config.normalize;
        let mut analyses: Vec<Analysis> = texts
            .par_iter()
            .map(|t| {
                with_scratch(|s| {
                    let t = t.as_ref();
                    let norm = normalized_in(t, &mut s.normalized, normalize);
                    let whole: [Range<usize>; 1] = [Range { start: 0, end: t.len() }];
                    analyzer.analyze(RecordShape::Text, &[FieldRole::Text], &[t], &[norm], &whole)
                })
            })
            .collect();
        let mut out = Vec::with_capacity(texts.len());
        let st = &mut self.state;
        for (i, a) in analyses.iter_mut().enumerate() {
            let ordinal = st.texts_seen + i as u64;
            let dup_of = st.dedup(a, location(TEXTS_FILE, ordinal));
            st.count(a, dup_of);
            st.report.bytes_read += texts[i].as_ref().len() as u64;
            out.push(match &a.verdict {
                Verdict::Pass => TextOutcome::Kept(a.rewrites.pop().map(|(_, t)| t)),
                Verdict::Remove(reason) => TextOutcome::Removed {
                    reason: reason.to_string(),
                    duplicate_of: dup_of.map(|d| d & ((1 << 40) - 1)),
                },
                Verdict::Reject(e) => TextOutcome::Removed {
                    reason: e.clone(),
                    duplicate_of: None,
                },
            });
        }
        st.texts_seen += texts.len() as u64;
        st.report.seconds += start.elapsed().as_secs_f64();
        out
    }

    /// Count an in-memory text that could not be read (not a string) as
    /// rejected with `error`. It takes its place in the `duplicate_of` index
    /// space like any text, so later indices still match the caller's.
    pub fn reject_text(&mut self, error: &str) {
        let st = &mut self.state;
        st.texts_seen += 1;
        st.report.read += 1;
        st.report.rejected += 1;
        if st.report.rejections.len() < REJECTION_SAMPLES {
            st.report.rejections.push(Rejection {
                file: "<texts>".to_string(),
                line: st.texts_seen,
                error: error.to_string(),
            });
        }
    }
}

impl Analyzer {
    /// Stage 1 for one raw line: parse, then analyse.
    fn analyze_line(&self, bytes: &[u8], error: Option<&str>, scratch: &mut Scratch) -> Analysis {
        if let Some(err) = error {
            return Analysis::stop(Verdict::Reject(err.to_string()));
        }
        // simdutf8 validates several times faster than `std` on non-ASCII
        // text; only an invalid line pays for `std`'s error position.
        let line = match simdutf8::basic::from_utf8(bytes) {
            Ok(l) => l,
            Err(_) => {
                let at = std::str::from_utf8(bytes).err().map_or(0, |e| e.valid_up_to());
                return Analysis::stop(Verdict::Reject(format!("invalid UTF-8 at byte {at}")));
            }
        };
        let normalize = self.config.normalize;
        // Plain-text records: locate the text without building any value, and
        // decode + normalise it in the same pass into a reused buffer.
        let Scratch { unescaped, normalized } = scratch;
        let located = if normalize {
            locate_normalized_text(line, &self.config.fields, normalized)
        } else {
            locate_text(line, &self.config.fields)
        };
        if let Some(lit) = located {
            let inner = &line[lit.span.start + 1..lit.span.end - 1];
            let value: &str = if !lit.escaped {
                inner
            } else if self.reads_raw_text() || !normalize {
                unescape_into(inner, unescaped);
                unescaped
            } else {
                // No step reads the decoded text: leave it undecoded.
                ""
            };
            let norm: &str = if normalize { normalized } else { value };
            return self.analyze(RecordShape::Text, &[FieldRole::Text], &[value], &[norm], &[lit.span]);
        }
        match parse_record(line, &self.config.fields) {
            Err(e) => Analysis::stop(Verdict::Reject(e)),
            Ok(rec) => {
                if rec.fields.is_empty() {
                    return Analysis::stop(Verdict::Reject("record has no text".to_string()));
                }
                let roles: Vec<FieldRole> = rec.fields.iter().map(|f| f.role).collect();
                let spans: Vec<Range<usize>> = rec.fields.iter().map(|f| f.span.clone()).collect();
                let values: Vec<&str> = rec.fields.iter().map(|f| f.value.as_ref()).collect();
                let owned: Vec<Cow<'_, str>> = if normalize {
                    values.iter().map(|v| normalize_fast(v)).collect()
                } else {
                    values.iter().map(|v| Cow::Borrowed(*v)).collect()
                };
                let normalized: Vec<&str> = owned.iter().map(AsRef::as_ref).collect();
                self.analyze(rec.shape, &roles, &values, &normalized, &spans)
            }
        }
    }

}

impl Pipeline {
    /// Clean JSONL files into `outputs`, calling `progress` after every chunk
    /// (an `Err` from it aborts the run and leaves no output).
    pub fn run_files(
        &mut self,
        inputs: &[PathBuf],
        outputs: &Outputs,
        progress: &mut dyn FnMut(&Report) -> Result<(), CleanError>,
    ) -> Result<Report, CleanError> {
        let start = Instant::now();
        let writers = [&outputs.kept, &outputs.removed, &outputs.rejected]
            .map(|p| p.as_deref().map(AtomicWriter::create).transpose());
        let [kept_w, removed_w, rejected_w] = writers;
        let mut writers = [kept_w?, removed_w?, rejected_w?];
        if self.analyzer.config.fsync {
            writers.iter_mut().flatten().for_each(AtomicWriter::sync_on_commit);
        }
        let wanted = writers.each_ref().map(Option::is_some);
        // The kept records of plain inputs take at most the inputs' size (the
        // writer cuts the file to what it wrote).
        if let (Some(w), Some(size)) = (&mut writers[0], plain_size(inputs)) {
            w.preallocate(size);
        }
        let analyzer = &self.analyzer;
        let state = &mut self.state;
        state.file_names = inputs.iter().map(|p| p.display().to_string()).collect();
        let chunk_bytes = analyzer.config.chunk_bytes;
        // Four stages run at once, as tasks of the rayon pool (no thread of
        // their own competing with it for the cores): block k is analysed in
        // parallel while block k + 1 is read, block k - 1 deduplicated in
        // input order (the one sequential step, on the state alone) and
        // block k - 2 written. Used buffers (compressed input) are reused for
        // later blocks.
        let mut spare: Vec<Vec<u8>> = Vec::new();
        let mut to_write: Option<WriteJob> = None;
        let mut to_finish: Option<Analysed> = None;
        for (file_idx, path) in inputs.iter().enumerate() {
            let mut reader = open_lines(path)?;
            // Small blocks first, so the workers start at once, then doubling
            // up to `chunk_bytes`.
            let mut target = chunk_bytes.min(FIRST_BLOCK);
            let mut next = reader.next_block_in(target, spare.pop().unwrap_or_default());
            while let Some(block) = next.take() {
                target = target.saturating_mul(2).min(chunk_bytes);
                let buffer = spare.pop().unwrap_or_default();
                let (previous, finishing) = (to_write.take(), to_finish.take());
                let ((analyses, following), (finished, written)) = rayon::join(
                    || rayon::join(|| analyzer.analyze_block(&block), || reader.next_block_in(target, buffer)),
                    || {
                        rayon::join(
                            || finishing.map(|a| state.finish_block(a, wanted)).transpose(),
                            || write_job(&mut writers, previous),
                        )
                    },
                );
                keep_buffer(&mut spare, written?);
                to_write = finished?;
                next = following;
                to_finish = Some(Analysed { block, analyses, file_idx });
                if to_write.is_some() {
                    state.report.seconds = start.elapsed().as_secs_f64();
                    progress(&state.report)?;
                }
            }
        }
        if let Some(last) = to_finish.take() {
            let (finished, written) =
                rayon::join(|| state.finish_block(last, wanted), || write_job(&mut writers, to_write.take()));
            keep_buffer(&mut spare, written?);
            to_write = Some(finished?);
            state.report.seconds = start.elapsed().as_secs_f64();
            progress(&state.report)?;
        }
        keep_buffer(&mut spare, write_job(&mut writers, to_write.take())?);
        // On any error (returned above) the writers are dropped uncommitted:
        // no output appears.
        for w in writers.into_iter().flatten() {
            state.report.bytes_written += w.bytes_written();
            w.commit()?;
        }
        state.report.seconds = start.elapsed().as_secs_f64();
        Ok(self.report())
    }
}

impl Analyzer {
    /// Stage 1 for one block: analyse its lines in parallel. Stage 2
    /// ([`DedupState::finish_block`]) then dedups and counts them in input order
    /// and gathers what is to be written for the outputs in `wanted` (kept,
    /// removed, rejected).
    fn analyze_block(&self, block: &LineBlock) -> Vec<Analysis> {
        (0..block.len())
            .into_par_iter()
            .with_min_len(8)
            .map(|i| with_scratch(|s| self.analyze_line(block.line(i), block.error_at(i), s)))
            .collect()
    }

}

impl DedupState {
    /// Stage 2 for one block analysed by [`Analyzer::analyze_block`]: dedup
    /// and count its records in input order and gather what is to be written
    /// for the outputs in `wanted` (kept, removed, rejected).
    fn finish_block(&mut self, analysed: Analysed, wanted: [bool; 3]) -> Result<WriteJob, CleanError> {
        let Analysed { block, mut analyses, file_idx } = analysed;
        let name = self.file_names.get(file_idx).cloned().unwrap_or_default();
        let name = name.as_str();
        let mut kept: Vec<Piece> = Vec::new();
        let mut removed: Vec<u8> = Vec::new();
        let mut rejected: Vec<u8> = Vec::new();
        for (i, a) in analyses.iter_mut().enumerate() {
            let line_no = block.number(i);
            let bytes = block.line(i);
            let loc = location(file_idx, line_no);
            let dup_of = self.dedup(a, loc);
            self.count(a, dup_of);
            self.report.bytes_read += bytes.len() as u64 + 1;
            match &a.verdict {
                Verdict::Pass if wanted[0] => match block.with_newline(i) {
                    // Stored with a bare newline: a slice of the block, merged with
                    // the previous one when they touch.
                    Some(r) if a.rewrites.is_empty() => match kept.last_mut() {
                        Some(Piece::Run(run)) if run.end == r.start => run.end = r.end,
                        _ => kept.push(Piece::Run(r)),
                    },
                    _ if a.rewrites.is_empty() => kept.push(Piece::Line(bytes.to_vec())),
                    _ => {
                        let line = String::from_utf8_lossy(bytes);
                        let mut edits: Vec<(Range<usize>, &str)> =
                            a.rewrites.iter().map(|(span, t)| (span.clone(), t.as_str())).collect();
                        kept.push(Piece::Line(splice(&line, &mut edits).into_bytes()));
                    }
                },
                Verdict::Pass => {}
                Verdict::Reject(error) => {
                    if self.strict {
                        return Err(CleanError::Input {
                            path: name.to_string(),
                            line: line_no,
                            message: error.clone(),
                        });
                    }
                    if self.report.rejections.len() < REJECTION_SAMPLES {
                        self.report.rejections.push(Rejection {
                            file: name.to_string(),
                            line: line_no,
                            error: error.clone(),
                        });
                    }
                    if wanted[2] {
                        let rec = serde_json::json!({
                            "file": name,
                            "line": line_no,
                            "error": error,
                            "raw": String::from_utf8_lossy(bytes),
                        });
                        rejected.extend_from_slice(rec.to_string().as_bytes());
                        rejected.push(b'\n');
                    }
                }
                Verdict::Remove(reason) => {
                    if wanted[1] {
                        let mut head = serde_json::json!({"file": name, "line": line_no, "reason": reason});
                        if let Some(target) = dup_of {
                            let target_file = (target >> 40) as usize;
                            head["duplicate_of"] = serde_json::json!({
                                "file": self.file_names.get(target_file).map_or(name, String::as_str),
                                "line": target & ((1 << 40) - 1),
                            });
                        }
                        let mut text = head.to_string().into_bytes();
                        text.pop();
                        removed.extend_from_slice(&text);
                        removed.extend_from_slice(b",\"record\":");
                        removed.extend_from_slice(String::from_utf8_lossy(bytes).as_bytes());
                        removed.extend_from_slice(b"}\n");
                    }
                }
            }
        }
        Ok(WriteJob {
            block,
            kept,
            removed,
            rejected,
        })
    }
}

/// A block and the analysis of each of its lines, waiting for stage 2.
struct Analysed {
    block: LineBlock,
    analyses: Vec<Analysis>,
    file_idx: usize,
}

/// A piece of the kept output of one block.
enum Piece {
    /// Lines copied as they are, newlines included: a range of the block's data.
    Run(Range<usize>),
    /// One line to write followed by a newline.
    Line(Vec<u8>),
}

/// What the writer thread writes for one block, in input order.
struct WriteJob {
    block: LineBlock,
    kept: Vec<Piece>,
    /// Whole side-file lines, newlines included.
    removed: Vec<u8>,
    rejected: Vec<u8>,
}

/// Size of the first block of a file (later ones double up to `chunk_bytes`).
const FIRST_BLOCK: usize = 256 << 10;

/// Block buffers kept for reuse (a few are in flight at once), and the
/// largest one worth keeping (a block grown around a huge line is freed).
const POOLED_BUFFERS: usize = 4;
const POOLED_MAX_BYTES: usize = 64 << 20;

/// Write one job to the (kept, removed, rejected) writers; the block's
/// buffer comes back for reuse (`None` for a mapped block).
fn write_job(writers: &mut [Option<AtomicWriter>; 3], job: Option<WriteJob>) -> Result<Option<Vec<u8>>, CleanError> {
    let Some(job) = job else { return Ok(None) };
    let [kept_w, removed_w, rejected_w] = writers;
    if let Some(w) = kept_w {
        for piece in &job.kept {
            match piece {
                Piece::Run(r) => w.write_lines(&job.block.data[r.clone()])?,
                Piece::Line(line) => w.write_line(line)?,
            }
        }
    }
    for (w, bytes) in [(removed_w, &job.removed), (rejected_w, &job.rejected)] {
        if let (Some(w), false) = (w, bytes.is_empty()) {
            w.write_lines(bytes)?;
        }
    }
    Ok(job.block.release())
}

/// Keep a used block buffer for a later block (a few, and not one grown
/// around a huge line).
fn keep_buffer(spare: &mut Vec<Vec<u8>>, buffer: Option<Vec<u8>>) {
    if let Some(buffer) = buffer {
        if spare.len() < POOLED_BUFFERS && buffer.capacity() <= POOLED_MAX_BYTES {
            spare.push(buffer);
        }
    }
}

/// Total size of `inputs` when they are all plain (uncompressed) files.
fn plain_size(inputs: &[PathBuf]) -> Option<u64> {
    inputs
        .iter()
        .map(|p| match crate::io::Compression::from_path(p) {
            crate::io::Compression::None => std::fs::metadata(p).ok().filter(|m| m.is_file()).map(|m| m.len()),
            _ => None,
        })
        .sum()
}

/// Input files that do not exist, for a friendly error before any work starts.
pub fn missing_inputs(inputs: &[PathBuf]) -> Vec<&Path> {
    inputs.iter().filter(|p| !p.is_file()).map(PathBuf::as_path).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain() -> PipelineConfig {
        PipelineConfig {
            gopher_quality: None,
            gopher_repetition: None,
            ..PipelineConfig::default()
        }
    }

    #[test]
    fn texts_dedup_and_redact() {
        let mut p = Pipeline::new(plain()).unwrap();
        let base = (0..60).map(|i| format!("word{i}")).collect::<Vec<_>>().join(" ");
        let near = base.replace("word30", "other");
        let texts = vec![
            base.clone(),
            base.clone(),
            "mail me at jane.doe@example.com about the garden by the river".to_string(),
            near,
            "tiny".to_string(),
        ];
        let out = p.run_texts(&texts);
        assert_eq!(out[0], TextOutcome::Kept(None));
        assert_eq!(
            out[1],
            TextOutcome::Removed {
                reason: "exact_duplicate".into(),
                duplicate_of: Some(0)
            }
        );
        assert!(matches!(&out[2], TextOutcome::Kept(Some(t)) if t.contains("[EMAIL]")));
        assert!(matches!(&out[3], TextOutcome::Removed { reason, .. } if reason == "near_duplicate"));
        assert!(matches!(&out[4], TextOutcome::Removed { reason, .. } if reason == "too_few_chars"));
        let r = p.report();
        assert!(r.balanced());
        assert_eq!(r.pii_by_kind.get("EMAIL"), Some(&1));
    }

    #[test]
    fn rejected_texts_keep_the_index_space() {
        let mut p = Pipeline::new(plain()).unwrap();
        let text = (0..40).map(|i| format!("word{i}")).collect::<Vec<_>>().join(" ");
        assert_eq!(p.run_texts(&[text.as_str()]), [TextOutcome::Kept(None)]);
        p.reject_text("not a string: NoneType");
        let out = p.run_texts(&[text.as_str()]);
        assert_eq!(out, [TextOutcome::Removed { reason: "exact_duplicate".into(), duplicate_of: Some(0) }]);
        let r = p.report();
        assert_eq!((r.read, r.kept, r.removed, r.rejected), (3, 1, 1, 1));
        assert_eq!((r.rejections[0].file.as_str(), r.rejections[0].line), ("<texts>", 2));
        assert!(r.balanced());
    }

    #[test]
    fn missing_input_hashes_like_empty_input() {
        let dir = std::env::temp_dir().join(format!("tunesmith-pipe-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let src = dir.join("inst.jsonl");
        let out = "The capital of France is Paris, on the Seine.";
        std::fs::write(
            &src,
            format!(
                "{{\"instruction\": \"Name the capital of France.\", \"output\": \"{out}\"}}\n{{\"instruction\": \"Name the capital of France.\", \"input\": \"\", \"output\": \"{out}\"}}\n"
            ),
        )
        .unwrap();
        let mut p = Pipeline::new(plain()).unwrap();
        let r = p.run_files(&[src], &Outputs::default(), &mut |_| Ok(())).unwrap();
        assert_eq!(r.removed_by_reason.get("exact_duplicate"), Some(&1));
    }
}

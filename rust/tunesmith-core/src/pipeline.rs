//! The streaming clean pass.
//!
//! Input is read in chunks of about [`PipelineConfig::chunk_bytes`] by a
//! prefetching reader thread. Each chunk goes through three stages:
//!
//! 1. per record, in parallel on the current rayon pool: UTF-8 check, JSON
//!    parse, normalisation, length / seed / Gopher filters, PII, and the exact
//!    hash and MinHash signature of the survivors;
//! 2. one ordered, sequential stage that owns the dedup state (exact index,
//!    LSH index), so the first occurrence in *input order* is kept whatever the
//!    thread count;
//! 3. sequential writing of kept, removed and rejected records.
//!
//! Every line read ends in exactly one of `kept`, `removed` (with a reason) or
//! `rejected` (with file, line and error): `read == kept + removed + rejected`.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Instant;

use rayon::prelude::*;

use crate::dedup::exact::HashBuilder;
use crate::dedup::exact::normalize_fast;
use crate::dedup::{content_hash, ExactIndex, LshIndex, LshParams, MinHasher, Shingling};
use crate::io::{open_lines, parse_record, splice, AtomicWriter, CleanError, FieldRole, RawLine, RecordShape, TextFields};
use crate::pii::{self, PiiCounts, PiiKind, RedactMode};
use crate::quality::gopher::{quality_stats_with_words, quality_verdict_of, GopherQualityConfig};
use crate::quality::length::{length_verdict, seed_length_ok, LengthLimits, SeedLengthConfig};
use crate::quality::repetition::{repetition_stats_with_words, repetition_verdict, RepetitionThresholds};
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
            chunk_bytes: 8 << 20,
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
    /// New values for fields a step changed, by field index.
    rewrites: Vec<(usize, String)>,
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

fn validator_reason(issue: &str) -> &'static str {
    use crate::quality::validator::{EMPTY_INSTRUCTION, EMPTY_OUTPUT, OUTPUT_REPETITION, OUTPUT_TOO_SHORT};
    match issue {
        i if i == EMPTY_INSTRUCTION => "validator_empty_instruction",
        i if i == EMPTY_OUTPUT => "validator_empty_output",
        i if i == OUTPUT_TOO_SHORT => "validator_output_too_short",
        i if i == OUTPUT_REPETITION => "validator_output_repetition",
        _ => "validator",
    }
}

fn join_fields<'a>(values: &'a [Cow<'a, str>]) -> Cow<'a, str> {
    match values {
        [one] => Cow::Borrowed(one.as_ref()),
        _ => Cow::Owned(values.iter().map(AsRef::as_ref).collect::<Vec<_>>().join("\n")),
    }
}

/// The streaming cleaner: configuration plus the dedup state it accumulates.
pub struct Pipeline {
    config: PipelineConfig,
    exact: ExactIndex,
    hasher: Option<MinHasher>,
    bands: Option<LshParams>,
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
        Ok(Self {
            config,
            exact: ExactIndex::new(),
            hasher,
            bands,
            lsh,
            dup_targets: HashSet::default(),
            report: Report::default(),
            texts_seen: 0,
            file_names: Vec::new(),
        })
    }

    pub fn config(&self) -> &PipelineConfig {
        &self.config
    }

    pub fn report(&self) -> Report {
        let mut r = self.report.clone();
        r.exact_entries = self.exact.len() as u64;
        r.lsh_entries = self.lsh.as_ref().map_or(0, |l| l.len() as u64);
        r.state_bytes = (self.exact.memory_bytes()
            + self.lsh.as_ref().map_or(0, LshIndex::memory_bytes)
            + self.dup_targets.capacity() * 9) as u64;
        r.clusters = self.dup_targets.len() as u64;
        r
    }

    /// Stage 1 for one record given as its text fields.
    fn analyze(&self, shape: RecordShape, roles: &[FieldRole], values: &[Cow<'_, str>]) -> Analysis {
        let cfg = &self.config;
        let normalized: Vec<Cow<'_, str>> = if cfg.normalize {
            values.iter().map(|v| normalize_fast(v)).collect()
        } else {
            values.iter().map(|v| Cow::Borrowed(v.as_ref())).collect()
        };
        if shape == RecordShape::Text {
            let raw = values[0].as_ref();
            if let Some(limits) = &cfg.length {
                if let Some(reason) = length_verdict(&normalized[0], limits) {
                    return Analysis::stop(Verdict::Remove(Cow::Borrowed(reason)));
                }
            }
            if cfg.gopher_quality.is_some() || cfg.gopher_repetition.is_some() {
                // Both Gopher filters read the same word tokens: tokenize once.
                let tokens = crate::text::words(raw);
                if let Some(q) = &cfg.gopher_quality {
                    let stats = quality_stats_with_words(raw, &tokens, &q.stop_words);
                    if let Some(reason) = quality_verdict_of(&stats, q) {
                        return Analysis::stop(Verdict::Remove(Cow::Borrowed(reason)));
                    }
                }
                if let Some(t) = &cfg.gopher_repetition {
                    if let Some(reason) = repetition_verdict(&repetition_stats_with_words(raw, &tokens), t) {
                        return Analysis::stop(Verdict::Remove(Cow::Borrowed(reason)));
                    }
                }
            }
        } else {
            let (mut instruction, mut input, mut output) = ("", "", "");
            for (role, value) in roles.iter().zip(&normalized) {
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
        let mut rewrites = Vec::new();
        let mut counts = PiiCounts::default();
        for (i, (value, norm)) in values.iter().zip(&normalized).enumerate() {
            let shown: &str = if cfg.write_normalized { norm } else { value };
            let mut changed: Option<String> = (cfg.write_normalized && norm != value).then(|| norm.to_string());
            if let Some(p) = &cfg.pii {
                match &p.action {
                    PiiAction::Redact(mode) => {
                        let (text, found) = pii::redact(shown, mode, p.kinds.as_deref());
                        if found.total() > 0 {
                            changed = Some(text);
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
        if counts.total() > 0 && matches!(cfg.pii.as_ref().map(|p| &p.action), Some(PiiAction::Drop)) {
            let mut a = Analysis::stop(Verdict::Remove(Cow::Borrowed("pii")));
            a.pii = counts;
            return a;
        }
        let hash = match (cfg.exact_dedup, shape) {
            (false, _) => 0,
            (true, RecordShape::Instruction) => {
                // A missing `input` hashes like an empty one, as in the seed guide.
                let mut parts = [""; 3];
                for (role, value) in roles.iter().zip(&normalized) {
                    match role {
                        FieldRole::Instruction => parts[0] = value,
                        FieldRole::Input => parts[1] = value,
                        _ => parts[2] = value,
                    }
                }
                content_hash(&parts)
            }
            (true, _) => content_hash(&normalized),
        };
        let (signature, band_keys) = match (&self.hasher, &self.bands) {
            (Some(h), Some(b)) => {
                let sig = h.signature(&join_fields(&normalized));
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

    /// Stage 2: dedup in input order. Returns the kept location a duplicate points to.
    fn dedup(&mut self, a: &mut Analysis, loc: u64) -> Option<u64> {
        if !matches!(a.verdict, Verdict::Pass) {
            return None;
        }
        if self.config.exact_dedup {
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

    /// Clean in-memory texts (each one plain-text record). Dedup state carries
    /// over between calls; `duplicate_of` indexes every text this pipeline has seen.
    pub fn run_texts<S: AsRef<str> + Sync>(&mut self, texts: &[S]) -> Vec<TextOutcome> {
        let start = Instant::now();
        let mut analyses: Vec<Analysis> = texts
            .par_iter()
            .map(|t| {
                let values = [Cow::Borrowed(t.as_ref())];
                self.analyze(RecordShape::Text, &[FieldRole::Text], &values)
            })
            .collect();
        let mut out = Vec::with_capacity(texts.len());
        for (i, a) in analyses.iter_mut().enumerate() {
            let ordinal = self.texts_seen + i as u64;
            let dup_of = self.dedup(a, location(TEXTS_FILE, ordinal));
            self.count(a, dup_of);
            self.report.bytes_read += texts[i].as_ref().len() as u64;
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
        self.texts_seen += texts.len() as u64;
        self.report.seconds += start.elapsed().as_secs_f64();
        out
    }

    /// Stage 1 for one raw line: parse, then analyse.
    fn analyze_line(&self, raw: &RawLine) -> (Analysis, Vec<Range<usize>>) {
        if let Some(err) = &raw.error {
            return (Analysis::stop(Verdict::Reject(err.clone())), Vec::new());
        }
        let line = match std::str::from_utf8(&raw.bytes) {
            Ok(l) => l,
            Err(e) => {
                return (
                    Analysis::stop(Verdict::Reject(format!("invalid UTF-8 at byte {}", e.valid_up_to()))),
                    Vec::new(),
                )
            }
        };
        match parse_record(line, &self.config.fields) {
            Err(e) => (Analysis::stop(Verdict::Reject(e)), Vec::new()),
            Ok(rec) => {
                let roles: Vec<FieldRole> = rec.fields.iter().map(|f| f.role).collect();
                let spans: Vec<Range<usize>> = rec.fields.iter().map(|f| f.span.clone()).collect();
                let values: Vec<Cow<'_, str>> = rec.fields.into_iter().map(|f| f.value).collect();
                if values.is_empty() {
                    return (Analysis::stop(Verdict::Reject("record has no text".to_string())), spans);
                }
                (self.analyze(rec.shape, &roles, &values), spans)
            }
        }
    }

    /// Clean JSONL files into `outputs`, calling `progress` after every chunk
    /// (an `Err` from it aborts the run and leaves no output).
    pub fn run_files(
        &mut self,
        inputs: &[PathBuf],
        outputs: &Outputs,
        progress: &mut dyn FnMut(&Report) -> Result<(), CleanError>,
    ) -> Result<Report, CleanError> {
        let start = Instant::now();
        let mut kept_w = outputs.kept.as_deref().map(AtomicWriter::create).transpose()?;
        let mut removed_w = outputs.removed.as_deref().map(AtomicWriter::create).transpose()?;
        let mut rejected_w = outputs.rejected.as_deref().map(AtomicWriter::create).transpose()?;
        self.file_names = inputs.iter().map(|p| p.display().to_string()).collect();
        for (file_idx, path) in inputs.iter().enumerate() {
            let mut reader = open_lines(path)?;
            let name = path.display().to_string();
            let chunk_bytes = self.config.chunk_bytes;
            let result = std::thread::scope(|scope| -> Result<(), CleanError> {
                let (tx, rx) = mpsc::sync_channel::<Vec<RawLine>>(2);
                scope.spawn(move || loop {
                    let chunk = reader.next_chunk(chunk_bytes);
                    if chunk.is_empty() || tx.send(chunk).is_err() {
                        break;
                    }
                });
                for chunk in rx {
                    self.process_chunk(
                        &chunk,
                        file_idx,
                        &name,
                        &mut kept_w,
                        &mut removed_w,
                        &mut rejected_w,
                    )?;
                    self.report.seconds = start.elapsed().as_secs_f64();
                    progress(&self.report)?;
                }
                Ok(())
            });
            result?;
        }
        for w in [kept_w, removed_w, rejected_w].into_iter().flatten() {
            self.report.bytes_written += w.bytes_written();
            w.commit()?;
        }
        self.report.seconds = start.elapsed().as_secs_f64();
        Ok(self.report())
    }

    fn process_chunk(
        &mut self,
        chunk: &[RawLine],
        file_idx: usize,
        name: &str,
        kept_w: &mut Option<AtomicWriter>,
        removed_w: &mut Option<AtomicWriter>,
        rejected_w: &mut Option<AtomicWriter>,
    ) -> Result<(), CleanError> {
        let mut analyses: Vec<(Analysis, Vec<Range<usize>>)> =
            chunk.par_iter().map(|raw| self.analyze_line(raw)).collect();
        for (raw, (a, spans)) in chunk.iter().zip(analyses.iter_mut()) {
            let loc = location(file_idx, raw.line);
            let dup_of = self.dedup(a, loc);
            self.count(a, dup_of);
            self.report.bytes_read += raw.bytes.len() as u64 + 1;
            match &a.verdict {
                Verdict::Reject(error) => {
                    if self.config.strict {
                        return Err(CleanError::Input {
                            path: name.to_string(),
                            line: raw.line,
                            message: error.clone(),
                        });
                    }
                    if self.report.rejections.len() < REJECTION_SAMPLES {
                        self.report.rejections.push(Rejection {
                            file: name.to_string(),
                            line: raw.line,
                            error: error.clone(),
                        });
                    }
                    if let Some(w) = rejected_w.as_mut() {
                        let rec = serde_json::json!({
                            "file": name,
                            "line": raw.line,
                            "error": error,
                            "raw": String::from_utf8_lossy(&raw.bytes),
                        });
                        w.write_line(rec.to_string().as_bytes())?;
                    }
                }
                Verdict::Remove(reason) => {
                    if let Some(w) = removed_w.as_mut() {
                        let mut head = serde_json::json!({"file": name, "line": raw.line, "reason": reason});
                        if let Some(target) = dup_of {
                            let target_file = (target >> 40) as usize;
                            head["duplicate_of"] = serde_json::json!({
                                "file": self.file_names.get(target_file).map_or(name, String::as_str),
                                "line": target & ((1 << 40) - 1),
                            });
                        }
                        let mut text = head.to_string();
                        text.pop();
                        text.push_str(",\"record\":");
                        text.push_str(&String::from_utf8_lossy(&raw.bytes));
                        text.push('}');
                        w.write_line(text.as_bytes())?;
                    }
                }
                Verdict::Pass => {
                    if let Some(w) = kept_w.as_mut() {
                        if a.rewrites.is_empty() {
                            w.write_line(&raw.bytes)?;
                        } else {
                            let line = String::from_utf8_lossy(&raw.bytes);
                            let mut edits: Vec<(Range<usize>, &str)> = a
                                .rewrites
                                .iter()
                                .filter_map(|(i, t)| spans.get(*i).map(|s| (s.clone(), t.as_str())))
                                .collect();
                            w.write_line(splice(&line, &mut edits).as_bytes())?;
                        }
                    }
                }
            }
        }
        Ok(())
    }
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

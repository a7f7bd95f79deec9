//! The clean pipeline and the dedupers: `CleanPipeline`, `ExactDeduper`,
//! `MinHashDeduper` (wrapped by `tunesmith.clean.pipeline`). The configuration
//! crosses as a flat dict of plain values that `CleanConfig.to_core()` builds;
//! reports come back as dicts. All work runs via [`detached`].

use std::path::PathBuf;

use numpy::{IntoPyArray, PyArray2, PyArrayMethods, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::{PyKeyError, PyOSError};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;
use pyo3::types::{PyBytes, PyDict, PyList};
use rayon::prelude::*;
use tunesmith_core::dedup::{cluster, content_hash, ExactIndex, Keep, LshIndex, LshParams, MinHasher, Shingling};
use tunesmith_core::io::{CleanError, TextFields};
use tunesmith_core::pii::{PiiKind, RedactMode};
use tunesmith_core::pipeline::{
    NearDedupConfig, Outputs, PiiAction, PiiConfig, Pipeline, PipelineConfig, Report, TextOutcome,
};
use tunesmith_core::quality::gopher::GopherQualityConfig;
use tunesmith_core::quality::length::{LengthLimits, SeedLengthConfig};
use tunesmith_core::quality::repetition::RepetitionThresholds;
use tunesmith_core::dedup::exact::normalize_fast as normalize;
use tunesmith_core::CoreError;

use crate::errors::to_pyerr;
use crate::gil::detached;

pub(crate) fn class_error(py: Python<'_>, class: &str, message: String) -> PyErr {
    match py
        .import("tunesmith.errors")
        .and_then(|m| m.getattr(class))
        .and_then(|c| c.call1((message.clone(),)))
    {
        Ok(instance) => PyErr::from_value(instance),
        Err(e) => e,
    }
}

pub(crate) fn clean_err(py: Python<'_>, err: CleanError) -> PyErr {
    match err {
        CleanError::Io { .. } => PyOSError::new_err(err.to_string()),
        CleanError::Input { .. } => class_error(py, "InputError", err.to_string()),
        CleanError::Config { .. } => class_error(py, "ConfigError", err.to_string()),
    }
}

pub(crate) fn config_err(py: Python<'_>, key: &str, message: String) -> PyErr {
    clean_err(py, CleanError::config(key, message))
}

/// A typed view of the flat config dict; every key is consumed exactly once.
struct Flat<'py> {
    dict: Bound<'py, PyDict>,
}

impl<'py> Flat<'py> {
    fn get<T: pyo3::conversion::FromPyObjectOwned<'py>>(&self, key: &str) -> PyResult<Option<T>> {
        match self.dict.get_item(key)? {
            None => Ok(None),
            Some(v) if v.is_none() => {
                self.dict.del_item(key)?;
                Ok(None)
            }
            Some(v) => {
                let out = v
                    .extract::<T>()
                    .map_err(|e| config_err(self.dict.py(), key, format!("{}", Into::<PyErr>::into(e))))?;
                self.dict.del_item(key)?;
                Ok(Some(out))
            }
        }
    }

    fn or<T: pyo3::conversion::FromPyObjectOwned<'py>>(&self, key: &str, default: T) -> PyResult<T> {
        Ok(self.get(key)?.unwrap_or(default))
    }
}

pub(crate) fn parse_kinds(py: Python<'_>, names: Option<Vec<String>>) -> PyResult<Option<Vec<PiiKind>>> {
    names
        .map(|names| {
            names
                .iter()
                .map(|n| {
                    PiiKind::from_name(n)
                        .ok_or_else(|| config_err(py, "pii.kinds", format!("unknown PII kind {n:?}")))
                })
                .collect::<PyResult<Vec<_>>>()
        })
        .transpose()
}

pub(crate) fn shingling(py: Python<'_>, unit: &str, n: usize) -> PyResult<Shingling> {
    match unit {
        "word" => Ok(Shingling::Words(n)),
        "char" => Ok(Shingling::Chars(n)),
        other => Err(config_err(py, "near_dedup.unit", format!("must be 'word' or 'char', got {other:?}"))),
    }
}

pub(crate) fn pipeline_config(py: Python<'_>, dict: &Bound<'_, PyDict>) -> PyResult<PipelineConfig> {
    let f = Flat { dict: dict.copy()? };
    let d = PipelineConfig::default();
    let g = GopherQualityConfig::default();
    let r = RepetitionThresholds::default();
    let s = SeedLengthConfig::default();
    let length_on: bool = f.or("length", true)?;
    let length = {
        Some(LengthLimits {
            min_chars: f.get("min_chars")?,
            max_chars: f.get("max_chars")?,
            min_words: f.get("min_words")?,
            max_words: f.get("max_words")?,
        })
    };
    let seed_length_on: bool = f.or("seed_length", true)?;
    let seed_length = {
        Some(SeedLengthConfig {
            min_input_length: f.or("min_input_length", s.min_input_length)?,
            max_input_length: f.or("max_input_length", s.max_input_length)?,
            min_output_length: f.or("min_output_length", s.min_output_length)?,
            max_output_length: f.or("max_output_length", s.max_output_length)?,
        })
    };
    let gopher_quality_on: bool = f.or("gopher_quality", true)?;
    let gopher_quality = {
        Some(GopherQualityConfig {
            min_doc_words: f.get("gq_min_doc_words")?,
            max_doc_words: f.get("gq_max_doc_words")?,
            min_avg_word_length: f.get("gq_min_avg_word_length")?,
            max_avg_word_length: f.get("gq_max_avg_word_length")?,
            max_symbol_word_ratio: f.get("gq_max_symbol_word_ratio")?,
            max_bullet_lines_ratio: f.get("gq_max_bullet_lines_ratio")?,
            max_ellipsis_lines_ratio: f.get("gq_max_ellipsis_lines_ratio")?,
            min_alpha_words_ratio: f.get("gq_min_alpha_words_ratio")?,
            min_stop_words: f.get("gq_min_stop_words")?,
            stop_words: f.or("gq_stop_words", g.stop_words)?,
        })
    };
    let gopher_repetition_on: bool = f.or("gopher_repetition", true)?;
    let gopher_repetition = {
        Some(RepetitionThresholds {
            dup_line_frac: f.or("gr_dup_line_frac", r.dup_line_frac)?,
            dup_para_frac: f.or("gr_dup_para_frac", r.dup_para_frac)?,
            dup_line_char_frac: f.or("gr_dup_line_char_frac", r.dup_line_char_frac)?,
            dup_para_char_frac: f.or("gr_dup_para_char_frac", r.dup_para_char_frac)?,
            top_ngram_char_frac: f.or("gr_top_ngram_char_frac", r.top_ngram_char_frac)?,
            dup_ngram_char_frac: f.or("gr_dup_ngram_char_frac", r.dup_ngram_char_frac)?,
        })
    };
    let near_dedup_on: bool = f.or("near_dedup", true)?;
    let near_dedup = {
        let n = NearDedupConfig::default();
        let unit: String = f.or("nd_unit", "word".to_string())?;
        let ngram: usize = f.or("nd_ngram", 5)?;
        let bands: Option<usize> = f.get("nd_bands")?;
        let rows: Option<usize> = f.get("nd_rows")?;
        Some(NearDedupConfig {
            num_perm: f.or("nd_num_perm", n.num_perm)?,
            shingling: shingling(py, &unit, ngram)?,
            seed: f.or("nd_seed", n.seed)?,
            threshold: f.or("nd_threshold", n.threshold)?,
            bands: match (bands, rows) {
                (Some(bands), Some(rows)) => Some(LshParams { bands, rows }),
                (None, None) => None,
                _ => return Err(config_err(py, "near_dedup.bands", "set both bands and rows, or neither".into())),
            },
        })
    };
    let pii_on: bool = f.or("pii", true)?;
    let pii = {
        let action: String = f.or("pii_action", "redact".to_string())?;
        let mode: String = f.or("pii_mode", "placeholder".to_string())?;
        let salt: String = f.or("pii_salt", String::new())?;
        let mode = match mode.as_str() {
            "placeholder" => RedactMode::Placeholder,
            "mask" => RedactMode::Mask,
            "hash" => RedactMode::Hash { salt },
            other => return Err(config_err(py, "pii.mode", format!("must be placeholder, mask or hash, got {other:?}"))),
        };
        Some(PiiConfig {
            action: match action.as_str() {
                "redact" => PiiAction::Redact(mode),
                "drop" => PiiAction::Drop,
                "detect" => PiiAction::Detect,
                other => return Err(config_err(py, "pii.action", format!("must be redact, drop or detect, got {other:?}"))),
            },
            kinds: parse_kinds(py, f.get("pii_kinds")?)?,
        })
    };
    let config = PipelineConfig {
        fields: TextFields {
            text_field: f.or("text_field", "text".to_string())?,
        },
        normalize: f.or("normalize", d.normalize)?,
        write_normalized: f.or("write_normalized", d.write_normalized)?,
        length: length.filter(|_| length_on),
        seed_length: seed_length.filter(|_| seed_length_on),
        seed_checks: f.or("seed_checks", d.seed_checks)?,
        gopher_quality: gopher_quality.filter(|_| gopher_quality_on),
        gopher_repetition: gopher_repetition.filter(|_| gopher_repetition_on),
        exact_dedup: f.or("exact_dedup", d.exact_dedup)?,
        near_dedup: near_dedup.filter(|_| near_dedup_on),
        pii: pii.filter(|_| pii_on),
        strict: f.or("strict", d.strict)?,
        fsync: f.or("fsync", d.fsync)?,
        chunk_bytes: f.or("chunk_bytes", d.chunk_bytes)?,
    };
    if let Some((key, _)) = f.dict.iter().next() {
        return Err(PyKeyError::new_err(format!("unknown clean config key {key}")));
    }
    Ok(config)
}

fn report_dict<'py>(py: Python<'py>, r: &Report) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("read", r.read)?;
    d.set_item("kept", r.kept)?;
    d.set_item("removed", r.removed)?;
    d.set_item("rejected", r.rejected)?;
    d.set_item("removed_by_reason", r.removed_by_reason.clone())?;
    d.set_item("pii_by_kind", r.pii_by_kind.clone())?;
    d.set_item("clusters", r.clusters)?;
    d.set_item("bytes_read", r.bytes_read)?;
    d.set_item("bytes_written", r.bytes_written)?;
    d.set_item("seconds", r.seconds)?;
    d.set_item("exact_entries", r.exact_entries)?;
    d.set_item("lsh_entries", r.lsh_entries)?;
    d.set_item("state_bytes", r.state_bytes)?;
    let rejections = PyList::empty(py);
    for j in &r.rejections {
        let e = PyDict::new(py);
        e.set_item("file", &j.file)?;
        e.set_item("line", j.line)?;
        e.set_item("error", &j.error)?;
        rejections.append(e)?;
    }
    d.set_item("rejections", rejections)?;
    Ok(d)
}

/// The streaming pipeline with its dedup state.
#[pyclass(name = "CleanPipeline", module = "tunesmith._core")]
pub struct PyCleanPipeline {
    inner: Pipeline,
}

#[pymethods]
impl PyCleanPipeline {
    #[new]
    fn new(py: Python<'_>, config: &Bound<'_, PyDict>) -> PyResult<Self> {
        let cfg = pipeline_config(py, config)?;
        Ok(Self {
            inner: Pipeline::new(cfg).map_err(|e| clean_err(py, e))?,
        })
    }

    /// Clean files into `kept` (and the side files); `progress(report_dict)` after each chunk.
    #[pyo3(signature = (inputs, kept=None, removed=None, rejected=None, progress=None))]
    fn run_files<'py>(
        &mut self,
        py: Python<'py>,
        inputs: Vec<PathBuf>,
        kept: Option<PathBuf>,
        removed: Option<PathBuf>,
        rejected: Option<PathBuf>,
        progress: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let outputs = Outputs { kept, removed, rejected };
        let mut pending: Option<PyErr> = None;
        let result = {
            let pending = &mut pending;
            let inner = &mut self.inner;
            detached(py, move || {
                let mut cb = |r: &Report| -> Result<(), CleanError> {
                    Python::attach(|py| {
                        let outcome = py.check_signals().and_then(|()| match &progress {
                            Some(f) => f.call1(py, (report_dict(py, r)?,)).map(|_| ()),
                            None => Ok(()),
                        });
                        outcome.map_err(|e| {
                            *pending = Some(e);
                            CleanError::Io {
                                path: String::new(),
                                message: "interrupted".into(),
                            }
                        })
                    })
                };
                inner.run_files(&inputs, &outputs, &mut cb)
            })
        };
        if let Some(e) = pending {
            return Err(e);
        }
        let report = result.map_err(|e| clean_err(py, e))?;
        report_dict(py, &report)
    }

    /// Clean in-memory texts: per text `(kept, text_or_None, reason_or_None, duplicate_of_or_None)`.
    /// A value that is not a `str` is rejected (reason `not a string: TYPE`) and counted, not raised.
    #[allow(clippy::type_complexity)]
    fn run_texts(
        &mut self,
        py: Python<'_>,
        texts: Vec<Bound<'_, PyAny>>,
    ) -> Vec<(bool, Option<String>, Option<String>, Option<u64>)> {
        let mut out = Vec::with_capacity(texts.len());
        // Runs of strings between the values that are not go to the core in one call each.
        let mut run: Vec<PyBackedStr> = Vec::with_capacity(texts.len());
        for value in &texts {
            match value.extract::<PyBackedStr>() {
                Ok(s) => run.push(s),
                Err(_) => {
                    self.clean_run(py, &mut run, &mut out);
                    let kind = value.get_type().name().map_or_else(|_| "?".to_string(), |n| n.to_string());
                    let error = format!("not a string: {kind}");
                    self.inner.reject_text(&error);
                    out.push((false, None, Some(error), None));
                }
            }
        }
        self.clean_run(py, &mut run, &mut out);
        out
    }

    fn report<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        report_dict(py, &self.inner.report())
    }
}

impl PyCleanPipeline {
    /// Clean the strings gathered in `run` (emptied) and append their outcomes to `out`.
    #[allow(clippy::type_complexity)]
    fn clean_run(
        &mut self,
        py: Python<'_>,
        run: &mut Vec<PyBackedStr>,
        out: &mut Vec<(bool, Option<String>, Option<String>, Option<u64>)>,
    ) {
        if run.is_empty() {
            return;
        }
        let inner = &mut self.inner;
        let texts = std::mem::take(run);
        let outcomes = detached(py, move || inner.run_texts(&texts));
        out.extend(outcomes.into_iter().map(|o| match o {
            TextOutcome::Kept(text) => (true, text, None, None),
            TextOutcome::Removed { reason, duplicate_of } => (false, None, Some(reason), duplicate_of),
        }));
    }
}

/// Exact dedup state: xxh3-128 of normalised texts, first occurrence kept.
#[pyclass(name = "ExactDeduper", module = "tunesmith._core")]
pub struct PyExactDeduper {
    index: ExactIndex,
    normalize: bool,
    seen: u64,
}

#[pymethods]
impl PyExactDeduper {
    #[new]
    #[pyo3(signature = (normalize=true))]
    fn new(normalize: bool) -> Self {
        Self {
            index: ExactIndex::new(),
            normalize,
            seen: 0,
        }
    }

    /// 128-bit content hashes (as Python ints) of `texts`, without recording them.
    fn hashes(&self, py: Python<'_>, texts: Vec<PyBackedStr>) -> Vec<u128> {
        let norm = self.normalize;
        detached(py, move || {
            texts
                .par_iter()
                .map(|t| {
                    if norm {
                        content_hash(&[normalize(t)])
                    } else {
                        content_hash(&[&**t])
                    }
                })
                .collect()
        })
    }

    /// Record `texts` in order; per text, `None` if first seen, else the index of its first occurrence.
    fn add(&mut self, py: Python<'_>, texts: Vec<PyBackedStr>) -> Vec<Option<u64>> {
        let hashes = self.hashes(py, texts);
        let base = self.seen;
        self.seen += hashes.len() as u64;
        let index = &mut self.index;
        detached(py, move || {
            hashes
                .into_iter()
                .enumerate()
                .map(|(i, h)| index.check_insert(h, base + i as u64))
                .collect()
        })
    }

    fn __len__(&self) -> usize {
        self.index.len()
    }

    fn memory_bytes(&self) -> usize {
        self.index.memory_bytes()
    }

    fn __getstate__<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        let mut bytes = Vec::with_capacity(self.index.len() * 24 + 9);
        bytes.push(u8::from(self.normalize));
        bytes.extend_from_slice(&self.seen.to_le_bytes());
        for (h, o) in self.index.entries() {
            bytes.extend_from_slice(&h.to_le_bytes());
            bytes.extend_from_slice(&o.to_le_bytes());
        }
        PyBytes::new(py, &bytes)
    }

    fn __setstate__(&mut self, py: Python<'_>, state: &[u8]) -> PyResult<()> {
        if state.len() < 9 || !(state.len() - 9).is_multiple_of(24) {
            return Err(to_pyerr(py, CoreError::invalid("state", "not an ExactDeduper state")));
        }
        self.normalize = state[0] != 0;
        let mut seen = [0u8; 8];
        seen.copy_from_slice(&state[1..9]);
        self.seen = u64::from_le_bytes(seen);
        self.index = ExactIndex::from_entries(state[9..].chunks_exact(24).map(|c| {
            let mut h = [0u8; 16];
            let mut o = [0u8; 8];
            h.copy_from_slice(&c[..16]);
            o.copy_from_slice(&c[16..]);
            (u128::from_le_bytes(h), u64::from_le_bytes(o))
        }));
        Ok(())
    }

    fn __getnewargs__(&self) -> (bool,) {
        (self.normalize,)
    }
}

/// MinHash signatures, streaming LSH dedup and batch clustering.
#[pyclass(name = "MinHashDeduper", module = "tunesmith._core")]
pub struct PyMinHashDeduper {
    hasher: MinHasher,
    params: LshParams,
    threshold: f64,
    normalize: bool,
    index: LshIndex,
    seen: u64,
    unit: String,
    ngram: usize,
}

fn signatures_of(hasher: &MinHasher, normalize_text: bool, texts: &[PyBackedStr]) -> Vec<u32> {
    let rows: Vec<Vec<u32>> = texts
        .par_iter()
        .map(|t| {
            if normalize_text {
                hasher.signature(&normalize(t))
            } else {
                hasher.signature(t)
            }
        })
        .collect();
    rows.concat()
}

#[pymethods]
impl PyMinHashDeduper {
    #[new]
    #[pyo3(signature = (num_perm=256, ngram=5, unit="word", seed=0x7475_6e65, threshold=0.77, bands=None, rows=None, normalize=true))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        num_perm: usize,
        ngram: usize,
        unit: &str,
        seed: u64,
        threshold: f64,
        bands: Option<usize>,
        rows: Option<usize>,
        normalize: bool,
    ) -> PyResult<Self> {
        let hasher = MinHasher::new(num_perm, shingling(py, unit, ngram)?, seed).map_err(|e| to_pyerr(py, e))?;
        let params = match (bands, rows) {
            (Some(bands), Some(rows)) => LshParams { bands, rows },
            (None, None) => LshParams::for_threshold(num_perm, threshold),
            _ => return Err(to_pyerr(py, CoreError::invalid("bands", "set both bands and rows, or neither"))),
        };
        let index = LshIndex::new(num_perm, params, threshold).map_err(|e| to_pyerr(py, e))?;
        Ok(Self {
            hasher,
            params,
            threshold,
            normalize,
            index,
            seen: 0,
            unit: unit.to_string(),
            ngram,
        })
    }

    #[getter]
    fn num_perm(&self) -> usize {
        self.hasher.num_perm()
    }

    #[getter]
    fn bands(&self) -> (usize, usize) {
        (self.params.bands, self.params.rows)
    }

    #[getter]
    fn threshold(&self) -> f64 {
        self.threshold
    }

    /// Signatures of `texts` as a `(len(texts), num_perm)` uint32 array.
    fn signatures<'py>(&self, py: Python<'py>, texts: Vec<PyBackedStr>) -> PyResult<Bound<'py, PyArray2<u32>>> {
        let n = texts.len();
        let (hasher, norm) = (&self.hasher, self.normalize);
        let flat = detached(py, move || signatures_of(hasher, norm, &texts));
        flat.into_pyarray(py).reshape([n, self.hasher.num_perm()])
    }

    /// Streaming dedup in order: per text, `None` if kept, else the index of the earlier text it duplicates.
    fn add(&mut self, py: Python<'_>, texts: Vec<PyBackedStr>) -> Vec<Option<u64>> {
        let base = self.seen;
        self.seen += texts.len() as u64;
        let (hasher, norm, params, index) = (&self.hasher, self.normalize, self.params, &mut self.index);
        detached(py, move || {
            let sigs = signatures_of(hasher, norm, &texts);
            let p = hasher.num_perm();
            sigs.chunks_exact(p)
                .enumerate()
                .map(|(i, sig)| {
                    let keys = params.band_keys(sig);
                    match index.find_similar(sig, &keys) {
                        Some((id, _)) => Some(id),
                        None => {
                            index.insert(base + i as u64, sig, &keys);
                            None
                        }
                    }
                })
                .collect()
        })
    }

    /// Cluster a batch (union-find over verified LSH candidates): per text, the index of the text its cluster keeps.
    #[pyo3(signature = (texts, keep="first"))]
    fn cluster(&self, py: Python<'_>, texts: Vec<PyBackedStr>, keep: &str) -> PyResult<Vec<usize>> {
        let keep = match keep {
            "first" => Keep::First,
            "longest" => Keep::Longest,
            other => return Err(to_pyerr(py, CoreError::invalid("keep", format!("must be 'first' or 'longest', got {other:?}")))),
        };
        let (hasher, norm, params, threshold) = (&self.hasher, self.normalize, self.params, self.threshold);
        detached(py, move || {
            let lengths: Vec<usize> = texts.iter().map(|t| t.chars().count()).collect();
            let sigs = signatures_of(hasher, norm, &texts);
            cluster(&sigs, hasher.num_perm(), params, threshold, keep, &lengths)
        })
        .map_err(|e| to_pyerr(py, e))
    }

    /// Cluster precomputed signatures (`(n, num_perm)` uint32).
    #[pyo3(signature = (signatures, lengths=None, keep="first"))]
    fn cluster_signatures(
        &self,
        py: Python<'_>,
        signatures: PyReadonlyArray2<'_, u32>,
        lengths: Option<Vec<usize>>,
        keep: &str,
    ) -> PyResult<Vec<usize>> {
        if signatures.shape()[1] != self.hasher.num_perm() {
            return Err(to_pyerr(py, CoreError::invalid("signatures", format!("need {} columns, got {}", self.hasher.num_perm(), signatures.shape()[1]))));
        }
        let keep = if keep == "longest" { Keep::Longest } else { Keep::First };
        let flat = signatures.as_array().iter().copied().collect::<Vec<u32>>();
        let lengths = lengths.unwrap_or_default();
        let (p, params, threshold) = (self.hasher.num_perm(), self.params, self.threshold);
        detached(py, move || cluster(&flat, p, params, threshold, keep, &lengths)).map_err(|e| to_pyerr(py, e))
    }

    fn __len__(&self) -> usize {
        self.index.len()
    }

    fn memory_bytes(&self) -> usize {
        self.index.memory_bytes()
    }

    #[allow(clippy::type_complexity)]
    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, (usize, usize, String, u64, f64, usize, usize, bool))> {
        let s = slf.borrow();
        if !s.index.is_empty() {
            return Err(to_pyerr(
                slf.py(),
                CoreError::invalid("MinHashDeduper", "only an empty deduper pickles (its LSH index is per process)"),
            ));
        }
        Ok((
            slf.get_type().into_any(),
            (s.hasher.num_perm(), s.ngram, s.unit.clone(), s.hasher.seed(), s.threshold, s.params.bands, s.params.rows, s.normalize),
        ))
    }
}

/// The whole content of `path` (plain, gzip or zstd, by suffix or magic bytes), decompressed.
#[pyfunction]
fn read_decompressed<'py>(py: Python<'py>, path: PathBuf) -> PyResult<Bound<'py, PyBytes>> {
    let bytes = detached(py, || -> Result<Vec<u8>, CleanError> {
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut tunesmith_core::io::open_decompressed(&path)?, &mut data)
            .map_err(|e| CleanError::io(&path, &e))?;
        Ok(data)
    })
    .map_err(|e| clean_err(py, e))?;
    Ok(PyBytes::new(py, &bytes))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(read_decompressed, m)?)?;
    m.add_class::<PyCleanPipeline>()?;
    m.add_class::<PyExactDeduper>()?;
    m.add_class::<PyMinHashDeduper>()?;
    Ok(())
}

//! Batch entry points for running the clean pass on a cluster (`tunesmith.clean.distributed`).
//!
//! The local pass (`tunesmith_core::pipeline`) interleaves a parallel
//! per-record stage with one sequential dedup stage that owns all state. A
//! cluster run splits these apart: [`PyRayStage::analyze`] is the per-record
//! stage over one byte range of a file (parse, normalise, filters, PII, the
//! xxh3-128 content hash, the MinHash signature and its LSH band keys), so the
//! dedup decisions can be made by shuffles; [`PyRayStage::resolve`] replays the
//! local pipeline's sequential LSH dedup inside each connected component of
//! band-key collisions, which gives exactly the local keep-first decision
//! because a record can only be compared with records that share a band key.
//!
//! The per-record logic mirrors `Pipeline::analyze` step for step (same order,
//! same reasons, same hashed fields) from the core's public building blocks;
//! the equivalence test in `tests/clean/test_distributed.py` runs both and
//! compares every record's fate.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};

use numpy::{
    IntoPyArray, PyArray1, PyArrayMethods, PyReadonlyArray1, PyReadonlyArray2,
    PyUntypedArrayMethods,
};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use rayon::prelude::*;
use tunesmith_core::dedup::exact::normalize_fast;
use tunesmith_core::dedup::{LshIndex, LshParams, MinHasher};
use tunesmith_core::io::{
    open_lines, parse_record, splice, CleanError, FieldRole, LineReader, RawLine, RecordShape,
};
use tunesmith_core::pii::{PiiCounts, PiiKind};
use tunesmith_core::pipeline::{
    pii_rewrites, record_hash, validator_reason, PiiAction, PipelineConfig,
};
use tunesmith_core::quality::length::{length_verdict, seed_length_ok};
use tunesmith_core::quality::validator::{seed_quality_ok, validate_fields};

use crate::clean::{class_error, clean_err, config_err, pipeline_config};
use crate::gil::detached;

/// Record status codes shared with the Python side.
const PASS: u8 = 0;
const REMOVED: u8 = 1;
const REJECTED: u8 = 2;

/// The per-record result of [`Stage::analyze_line`].
struct Analysis {
    status: u8,
    reason: Option<String>,
    hash: u128,
    signature: Vec<u32>,
    band_keys: Vec<u64>,
    /// The line to write if the record is kept and a step changed it.
    rewritten: Option<String>,
    pii: PiiCounts,
}

impl Analysis {
    fn stop(status: u8, reason: String) -> Self {
        Self {
            status,
            reason: Some(reason),
            hash: 0,
            signature: Vec::new(),
            band_keys: Vec::new(),
            rewritten: None,
            pii: PiiCounts::default(),
        }
    }
}

struct Stage {
    config: PipelineConfig,
    hasher: Option<MinHasher>,
    params: Option<LshParams>,
    threshold: f64,
}

impl Stage {
    fn new(config: PipelineConfig) -> Result<Self, CleanError> {
        let (hasher, params, threshold) = match &config.near_dedup {
            Some(near) => {
                let hasher = MinHasher::new(near.num_perm, near.shingling, near.seed)
                    .map_err(|e| CleanError::config("near_dedup", e.to_string()))?;
                let params = near
                    .bands
                    .unwrap_or_else(|| LshParams::for_threshold(near.num_perm, near.threshold));
                // Validates banding and threshold exactly as the local pipeline does.
                LshIndex::new(near.num_perm, params, near.threshold)
                    .map_err(|e| CleanError::config("near_dedup", e.to_string()))?;
                (Some(hasher), Some(params), near.threshold)
            }
            None => (None, None, 1.0),
        };
        Ok(Self {
            config,
            hasher,
            params,
            threshold,
        })
    }

    fn num_perm(&self) -> usize {
        self.hasher.as_ref().map_or(0, MinHasher::num_perm)
    }

    fn num_bands(&self) -> usize {
        self.params.map_or(0, |p| p.bands)
    }

    /// Mirrors `Pipeline::analyze_line` + `Pipeline::analyze` of the core, step for step.
    #[allow(clippy::too_many_lines)]
    fn analyze_line(&self, raw: &RawLine) -> Analysis {
        if let Some(err) = &raw.error {
            return Analysis::stop(REJECTED, err.clone());
        }
        let line = match std::str::from_utf8(&raw.bytes) {
            Ok(l) => l,
            Err(e) => {
                return Analysis::stop(
                    REJECTED,
                    format!("invalid UTF-8 at byte {}", e.valid_up_to()),
                )
            }
        };
        let rec = match parse_record(line, &self.config.fields) {
            Ok(rec) => rec,
            Err(e) => return Analysis::stop(REJECTED, e),
        };
        let shape = rec.shape;
        let roles: Vec<FieldRole> = rec.fields.iter().map(|f| f.role).collect();
        let spans: Vec<Range<usize>> = rec.fields.iter().map(|f| f.span.clone()).collect();
        let values: Vec<Cow<'_, str>> = rec.fields.into_iter().map(|f| f.value).collect();
        if values.is_empty() {
            return Analysis::stop(REJECTED, "record has no text".to_string());
        }
        let cfg = &self.config;
        let removed = |reason: &str| Analysis::stop(REMOVED, reason.to_string());
        let normalized: Vec<Cow<'_, str>> = if cfg.normalize {
            values.iter().map(|v| normalize_fast(v)).collect()
        } else {
            values.iter().map(|v| Cow::Borrowed(v.as_ref())).collect()
        };
        if shape == RecordShape::Text {
            let raw_text = values[0].as_ref();
            if let Some(limits) = &cfg.length {
                if let Some(reason) = length_verdict(&normalized[0], limits) {
                    return removed(reason);
                }
            }
            // Quality first, then repetition, on one tokenization (as the local pass does).
            if let Some(reason) = tunesmith_core::quality::gopher_quality_then_repetition(
                raw_text,
                cfg.gopher_quality.as_ref(),
                cfg.gopher_repetition.as_ref(),
            ) {
                return removed(reason);
            }
        } else {
            let (mut instruction, mut input, mut output) = ("", "", "");
            for (role, value) in roles.iter().zip(&normalized) {
                match role {
                    FieldRole::Instruction => instruction = value,
                    FieldRole::Input => input = value,
                    FieldRole::Output | FieldRole::Turn { assistant: true } => output = value,
                    FieldRole::Turn { assistant: false } if instruction.is_empty() => {
                        instruction = value
                    }
                    FieldRole::Turn { .. } | FieldRole::Text => {}
                }
            }
            if let Some(seed) = &cfg.seed_length {
                if !seed_length_ok(instruction, input, output, seed) {
                    return removed("seed_length");
                }
            }
            if cfg.seed_checks {
                if let Some(issue) = validate_fields(instruction, output).first() {
                    return removed(validator_reason(issue));
                }
                if !seed_quality_ok(output) {
                    return removed("seed_quality");
                }
            }
        }
        let (rewrites, counts) = pii_rewrites(cfg, &values, &normalized);
        if counts.total() > 0
            && matches!(cfg.pii.as_ref().map(|p| &p.action), Some(PiiAction::Drop))
        {
            let mut a = removed("pii");
            a.pii = counts;
            return a;
        }
        let hash = if cfg.exact_dedup { record_hash(shape, &roles, &normalized) } else { 0 };
        let (signature, band_keys) = match (&self.hasher, &self.params) {
            (Some(h), Some(b)) => {
                let joined: Cow<'_, str> = match normalized.as_slice() {
                    [one] => Cow::Borrowed(one.as_ref()),
                    many => Cow::Owned(
                        many.iter()
                            .map(AsRef::as_ref)
                            .collect::<Vec<_>>()
                            .join("\n"),
                    ),
                };
                let sig = h.signature(&joined);
                let keys = b.band_keys(&sig);
                (sig, keys)
            }
            _ => (Vec::new(), Vec::new()),
        };
        let rewritten = (!rewrites.is_empty()).then(|| {
            let mut edits: Vec<(Range<usize>, &str)> = rewrites
                .iter()
                .filter_map(|(i, t)| spans.get(*i).map(|s| (s.clone(), t.as_str())))
                .collect();
            splice(line, &mut edits)
        });
        Analysis {
            status: PASS,
            reason: None,
            hash,
            signature,
            band_keys,
            rewritten,
            pii: counts,
        }
    }
}

/// Every line of `path` (a byte range of a plain file, or a whole compressed file), as the local reader splits them.
fn read_range(path: &Path, start: u64, end: Option<u64>) -> Result<Vec<RawLine>, CleanError> {
    match end {
        None if start == 0 => Ok(open_lines(path)?.read_all()),
        None => Err(CleanError::config(
            "end",
            "a byte range needs an end (only whole files may omit it)",
        )),
        Some(end) => {
            if end < start {
                return Err(CleanError::config(
                    "end",
                    format!("end {end} is before start {start}"),
                ));
            }
            let mut file = std::fs::File::open(path).map_err(|e| CleanError::io(path, &e))?;
            file.seek(SeekFrom::Start(start))
                .map_err(|e| CleanError::io(path, &e))?;
            let len = usize::try_from(end - start)
                .map_err(|_| CleanError::config("end", "range too large"))?;
            let mut bytes = vec![0u8; len];
            file.read_exact(&mut bytes)
                .map_err(|e| CleanError::io(path, &e))?;
            Ok(LineReader::from_bytes(bytes).read_all())
        }
    }
}

/// The per-record stage of a cluster clean run and the per-component LSH replay.
///
/// Built from the same flat config dict as `CleanPipeline`; pickles as that dict.
#[pyclass(name = "RayStage", module = "tunesmith._core", frozen)]
pub struct PyRayStage {
    stage: Stage,
    config: Py<PyDict>,
}

#[pymethods]
impl PyRayStage {
    #[new]
    fn new(py: Python<'_>, config: &Bound<'_, PyDict>) -> PyResult<Self> {
        let cfg = pipeline_config(py, config)?;
        Ok(Self {
            stage: Stage::new(cfg).map_err(|e| clean_err(py, e))?,
            config: config.copy()?.unbind(),
        })
    }

    /// Signature length (0 when near dedup is off).
    #[getter]
    fn num_perm(&self) -> usize {
        self.stage.num_perm()
    }

    /// LSH bands (0 when near dedup is off).
    #[getter]
    fn num_bands(&self) -> usize {
        self.stage.num_bands()
    }

    /// PII kind names, in the column order of `analyze(...)["pii"]`.
    #[getter]
    fn pii_kinds(&self) -> Vec<&'static str> {
        PiiKind::ALL.iter().map(|k| k.name()).collect()
    }

    /// Raw lines of a byte range (`end=None` with `start=0`: the whole file, decompressed).
    #[staticmethod]
    #[pyo3(signature = (path, start=0, end=None))]
    fn read_lines<'py>(
        py: Python<'py>,
        path: PathBuf,
        start: u64,
        end: Option<u64>,
    ) -> PyResult<Bound<'py, PyList>> {
        let lines = detached(py, || read_range(&path, start, end)).map_err(|e| clean_err(py, e))?;
        PyList::new(py, lines.iter().map(|l| PyBytes::new(py, &l.bytes)))
    }

    /// Run the per-record stage over a byte range of `path`; returns a dict of columns, one row per line.
    ///
    /// Columns: `line` (1-based within the range), `status` (0 pass, 1 removed, 2 rejected), `reason`,
    /// `nbytes` (line length + 1, as the local report counts), `hash_hi`/`hash_lo` (the xxh3-128 content
    /// hash), `bands` (`(n, bands)` uint64 LSH band keys), `signatures` (`(n, num_perm)` uint32),
    /// `rewritten` (the line to write when a step changed it) and `pii` (`(n, kinds)` uint32 span counts).
    #[pyo3(signature = (path, start=0, end=None))]
    fn analyze<'py>(
        &self,
        py: Python<'py>,
        path: PathBuf,
        start: u64,
        end: Option<u64>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let stage = &self.stage;
        let (lines, analyses) = detached(py, || -> Result<_, CleanError> {
            let lines = read_range(&path, start, end)?;
            let analyses: Vec<Analysis> = lines
                .par_iter()
                .map(|raw| stage.analyze_line(raw))
                .collect();
            Ok((lines, analyses))
        })
        .map_err(|e| clean_err(py, e))?;
        let n = lines.len();
        let (p, b) = (stage.num_perm(), stage.num_bands());
        let mut sigs = vec![0u32; n * p];
        let mut bands = vec![0u64; n * b];
        let mut pii = vec![0u32; n * PiiKind::COUNT];
        for (i, a) in analyses.iter().enumerate() {
            if a.signature.len() == p {
                sigs[i * p..(i + 1) * p].copy_from_slice(&a.signature);
            }
            if a.band_keys.len() == b {
                bands[i * b..(i + 1) * b].copy_from_slice(&a.band_keys);
            }
            for (k, c) in a.pii.0.iter().enumerate() {
                pii[i * PiiKind::COUNT + k] = u32::try_from(*c).unwrap_or(u32::MAX);
            }
        }
        let out = PyDict::new(py);
        out.set_item(
            "line",
            lines
                .iter()
                .map(|l| l.line)
                .collect::<Vec<u64>>()
                .into_pyarray(py),
        )?;
        out.set_item(
            "status",
            analyses
                .iter()
                .map(|a| a.status)
                .collect::<Vec<u8>>()
                .into_pyarray(py),
        )?;
        out.set_item(
            "reason",
            analyses
                .iter()
                .map(|a| a.reason.clone())
                .collect::<Vec<_>>(),
        )?;
        out.set_item(
            "nbytes",
            lines
                .iter()
                .map(|l| l.bytes.len() as u64 + 1)
                .collect::<Vec<u64>>()
                .into_pyarray(py),
        )?;
        #[allow(clippy::cast_possible_truncation)]
        let (hi, lo): (Vec<u64>, Vec<u64>) = analyses
            .iter()
            .map(|a| ((a.hash >> 64) as u64, a.hash as u64))
            .unzip();
        out.set_item("hash_hi", hi.into_pyarray(py))?;
        out.set_item("hash_lo", lo.into_pyarray(py))?;
        out.set_item("bands", bands.into_pyarray(py).reshape([n, b])?)?;
        out.set_item("signatures", sigs.into_pyarray(py).reshape([n, p])?)?;
        let rewritten = PyList::empty(py);
        for a in &analyses {
            match &a.rewritten {
                Some(t) => rewritten.append(PyBytes::new(py, t.as_bytes()))?,
                None => rewritten.append(py.None())?,
            }
        }
        out.set_item("rewritten", rewritten)?;
        out.set_item("pii", pii.into_pyarray(py).reshape([n, PiiKind::COUNT])?)?;
        Ok(out)
    }

    /// Replay the local pipeline's streaming LSH dedup inside each component.
    ///
    /// Rows are records that passed every filter and are not exact duplicates; `components[i]` names the
    /// component of record `ids[i]`. Within a component, records are taken in `ids` order: each is compared
    /// with the kept records sharing a band key and removed if one reaches the threshold (the first such,
    /// by insertion order, is its `duplicate_of`), else inserted. Returns per row the id it duplicates, or
    /// -1 when kept.
    fn resolve<'py>(
        &self,
        py: Python<'py>,
        components: PyReadonlyArray1<'_, u64>,
        ids: PyReadonlyArray1<'_, u64>,
        signatures: PyReadonlyArray2<'_, u32>,
        bands: PyReadonlyArray2<'_, u64>,
    ) -> PyResult<Bound<'py, PyArray1<i64>>> {
        let (Some(params), p) = (self.stage.params, self.stage.num_perm()) else {
            return Err(config_err(
                py,
                "near_dedup",
                "resolve needs near dedup enabled".into(),
            ));
        };
        let n = ids.len();
        if components.len() != n
            || signatures.shape() != [n, p]
            || bands.shape() != [n, params.bands]
        {
            return Err(class_error(
                py,
                "ArgumentError",
                format!(
                    "resolve: need components[{n}], signatures[{n}, {p}] and bands[{n}, {}]; got components[{}], signatures{:?}, bands{:?}",
                    params.bands,
                    components.len(),
                    signatures.shape(),
                    bands.shape()
                ),
            ));
        }
        let comps = components.as_array().to_vec();
        let idv = ids.as_array().to_vec();
        let sigs: Vec<u32> = signatures.as_array().iter().copied().collect();
        let keys: Vec<u64> = bands.as_array().iter().copied().collect();
        let threshold = self.stage.threshold;
        let out = detached(py, move || -> Result<Vec<i64>, String> {
            let mut groups: HashMap<u64, Vec<usize>> = HashMap::new();
            for (i, c) in comps.iter().enumerate() {
                groups.entry(*c).or_default().push(i);
            }
            let groups: Vec<Vec<usize>> = groups.into_values().collect();
            let decided: Vec<Vec<(usize, i64)>> = groups
                .into_par_iter()
                .map(|mut rows| -> Result<Vec<(usize, i64)>, String> {
                    rows.sort_unstable_by_key(|&i| idv[i]);
                    let mut index =
                        LshIndex::new(p, params, threshold).map_err(|e| e.to_string())?;
                    let mut decided = Vec::with_capacity(rows.len());
                    for i in rows {
                        let sig = &sigs[i * p..(i + 1) * p];
                        let band_keys = &keys[i * params.bands..(i + 1) * params.bands];
                        match index.find_similar(sig, band_keys) {
                            Some((kept, _)) => {
                                decided.push((i, i64::try_from(kept).unwrap_or(i64::MAX)))
                            }
                            None => {
                                index.insert(idv[i], sig, band_keys);
                                decided.push((i, -1));
                            }
                        }
                    }
                    Ok(decided)
                })
                .collect::<Result<_, _>>()?;
            let mut out = vec![-1i64; idv.len()];
            for (i, d) in decided.into_iter().flatten() {
                out[i] = d;
            }
            Ok(out)
        })
        .map_err(|e| config_err(py, "near_dedup", e))?;
        Ok(out.into_pyarray(py))
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> (Bound<'py, PyAny>, (Py<PyDict>,)) {
        (
            slf.get_type().into_any(),
            (slf.get().config.clone_ref(slf.py()),),
        )
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyRayStage>()?;
    Ok(())
}

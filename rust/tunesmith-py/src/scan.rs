//! Per-document scanners: normalisation, PII scan/redact, Gopher repetition
//! and quality, the seed validator checks. Results cross as plain tuples,
//! dicts and lists; `tunesmith.clean.scanners` wraps them in typed objects.
//! Every call releases the GIL; batch calls run on tunesmith's rayon pool.

use std::borrow::Cow;

use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;
use pyo3::types::{PyDict, PyList, PyString};
use rayon::prelude::*;
use tunesmith_core::pii::{self, PiiCounts, PiiKind, PiiSpan, RedactMode};
use tunesmith_core::quality::gopher::{quality_stats, quality_verdict_of, GopherQualityConfig, QualityStats};
use tunesmith_core::quality::length::{length_verdict, LengthLimits};
use tunesmith_core::quality::repetition::{repetition_stats, repetition_verdict, RepetitionStats, RepetitionThresholds};
use tunesmith_core::quality::validator::{seed_quality_ok, validate_fields};
use tunesmith_core::text::normalize;
use tunesmith_core::CoreError;

use crate::errors::to_pyerr;
use crate::gil::detached;

/// Below this many bytes in all, a PII call runs on the calling thread (the
/// GIL released): handing it to the pool and waking a worker costs more
/// (tens of microseconds) than scanning it.
const INLINE_PII_BYTES: usize = 32 * 1024;

/// Run `work` without the GIL: on the calling thread when `bytes` is small,
/// else on tunesmith's pool.
fn pii_work<T: Send>(py: Python<'_>, bytes: usize, work: impl FnOnce() -> T + Send) -> T {
    if bytes < INLINE_PII_BYTES {
        py.detach(work)
    } else {
        detached(py, work)
    }
}

/// `work` over every text without the GIL, in order: serially on the
/// calling thread when the texts are small in all, else in parallel on
/// tunesmith's pool.
fn pii_each<T: Send>(py: Python<'_>, texts: &[PyBackedStr], work: impl Fn(&str) -> T + Send + Sync) -> Vec<T> {
    let bytes: usize = texts.iter().map(|t| t.len()).sum();
    if bytes < INLINE_PII_BYTES {
        py.detach(|| texts.iter().map(|t| work(t)).collect())
    } else {
        detached(py, || texts.par_iter().map(|t| work(t)).collect())
    }
}

type SpanTuple = (&'static str, usize, usize, usize, usize, String);

fn span_tuple(s: PiiSpan) -> SpanTuple {
    (s.kind.name(), s.start, s.end, s.byte_start, s.byte_end, s.text)
}

fn parse_kinds(py: Python<'_>, kinds: Option<Vec<String>>) -> PyResult<Option<Vec<PiiKind>>> {
    let Some(names) = kinds else { return Ok(None) };
    names
        .iter()
        .map(|n| {
            PiiKind::from_name(n).ok_or_else(|| {
                let known: Vec<&str> = PiiKind::ALL.iter().map(|k| k.name()).collect();
                to_pyerr(py, CoreError::invalid("kinds", format!("unknown PII kind {n:?}; known kinds: {}", known.join(", "))))
            })
        })
        .collect::<PyResult<Vec<_>>>()
        .map(Some)
}

fn parse_mode(py: Python<'_>, mode: &str, salt: Option<String>) -> PyResult<RedactMode> {
    match mode {
        "placeholder" => Ok(RedactMode::Placeholder),
        "mask" => Ok(RedactMode::Mask),
        "hash" => Ok(RedactMode::Hash { salt: salt.unwrap_or_default() }),
        other => Err(to_pyerr(
            py,
            CoreError::invalid("mode", format!("must be 'placeholder', 'mask' or 'hash', got {other:?}")),
        )),
    }
}

fn counts_dict<'py>(py: Python<'py>, counts: &PiiCounts) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (kind, n) in counts.nonzero() {
        d.set_item(kind.name(), n)?;
    }
    Ok(d)
}

/// The one normalisation every hasher shares: whitespace runs to one space,
/// control characters removed, Unicode NFC, stripped.
#[pyfunction]
fn normalize_text(py: Python<'_>, text: PyBackedStr) -> String {
    detached(py, || normalize(&text).into_owned())
}

/// `normalize_text` over a list, in parallel, in order.
#[pyfunction]
fn normalize_texts(py: Python<'_>, texts: Vec<PyBackedStr>) -> Vec<String> {
    detached(py, || texts.par_iter().map(|t| normalize(t).into_owned()).collect())
}

/// PII spans of `text` as `(kind, start, end, byte_start, byte_end, text)`
/// tuples, sorted, non-overlapping; `start`/`end` are character offsets.
#[pyfunction]
#[pyo3(signature = (text, kinds=None))]
fn pii_scan(py: Python<'_>, text: PyBackedStr, kinds: Option<Vec<String>>) -> PyResult<Vec<SpanTuple>> {
    let kinds = parse_kinds(py, kinds)?;
    Ok(pii_work(py, text.len(), || pii::scan_kinds(&text, kinds.as_deref()).into_iter().map(span_tuple).collect()))
}

/// `pii_scan` over a list, in parallel, in order.
#[pyfunction]
#[pyo3(signature = (texts, kinds=None))]
fn pii_scan_batch(py: Python<'_>, texts: Vec<PyBackedStr>, kinds: Option<Vec<String>>) -> PyResult<Vec<Vec<SpanTuple>>> {
    let kinds = parse_kinds(py, kinds)?;
    let spans = pii_each(py, &texts, |t| pii::scan_kinds(t, kinds.as_deref()));
    Ok(spans.into_iter().map(|s| s.into_iter().map(span_tuple).collect()).collect())
}

/// `text` redacted: the same object when it holds no PII (and is a plain
/// `str`, not a subclass), else a new string.
fn redacted_object<'py>(py: Python<'py>, text: &PyBackedStr, redacted: Option<String>) -> Bound<'py, PyAny> {
    if let Some(new) = redacted {
        return PyString::new(py, &new).into_any();
    }
    let Ok(original) = text.into_pyobject(py);
    if original.is_exact_instance_of::<PyString>() {
        original
    } else {
        PyString::new(py, text).into_any()
    }
}

/// Redact `text`; returns the new text (`text` itself when it holds no PII)
/// and `{kind: count}`.
#[pyfunction]
#[pyo3(signature = (text, mode="placeholder", salt=None, kinds=None))]
fn pii_redact<'py>(
    py: Python<'py>,
    text: PyBackedStr,
    mode: &str,
    salt: Option<String>,
    kinds: Option<Vec<String>>,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyDict>)> {
    let mode = parse_mode(py, mode, salt)?;
    let kinds = parse_kinds(py, kinds)?;
    let (out, counts) = pii_work(py, text.len(), || {
        let (out, counts) = pii::redact_cow(&text, &mode, kinds.as_deref());
        (owned_if_changed(out), counts)
    });
    Ok((redacted_object(py, &text, out), counts_dict(py, &counts)?))
}

fn owned_if_changed(text: Cow<'_, str>) -> Option<String> {
    match text {
        Cow::Borrowed(_) => None,
        Cow::Owned(new) => Some(new),
    }
}

/// `pii_redact` over a list, in parallel, in order; returns the texts (each
/// text without PII is the input object itself, not a copy) and the total
/// `{kind: count}`.
#[pyfunction]
#[pyo3(signature = (texts, mode="placeholder", salt=None, kinds=None))]
fn pii_redact_batch<'py>(
    py: Python<'py>,
    texts: Vec<PyBackedStr>,
    mode: &str,
    salt: Option<String>,
    kinds: Option<Vec<String>>,
) -> PyResult<(Bound<'py, PyList>, Bound<'py, PyDict>)> {
    let mode = parse_mode(py, mode, salt)?;
    let kinds = parse_kinds(py, kinds)?;
    let results = pii_each(py, &texts, |t| {
        let (out, counts) = pii::redact_cow(t, &mode, kinds.as_deref());
        (owned_if_changed(out), counts)
    });
    let mut total = PiiCounts::default();
    let mut redacted = Vec::with_capacity(results.len());
    for (text, counts) in results {
        total.add(&counts);
        redacted.push(text);
    }
    let out = PyList::new(py, texts.iter().zip(redacted).map(|(t, r)| redacted_object(py, t, r)))?;
    Ok((out, counts_dict(py, &total)?))
}

fn repetition_dict<'py>(py: Python<'py>, s: &RepetitionStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("chars", s.chars)?;
    d.set_item("words", s.words)?;
    d.set_item("lines", s.lines)?;
    d.set_item("paragraphs", s.paragraphs)?;
    d.set_item("dup_line_frac", s.dup_line_frac)?;
    d.set_item("dup_para_frac", s.dup_para_frac)?;
    d.set_item("dup_line_char_frac", s.dup_line_char_frac)?;
    d.set_item("dup_para_char_frac", s.dup_para_char_frac)?;
    for (i, v) in s.top_ngram_char_frac.iter().enumerate() {
        d.set_item(format!("top_{}_gram_char_frac", i + 2), v)?;
    }
    for (i, v) in s.dup_ngram_char_frac.iter().enumerate() {
        d.set_item(format!("dup_{}_gram_char_frac", i + 5), v)?;
    }
    Ok(d)
}

fn quality_dict<'py>(py: Python<'py>, s: &QualityStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("words", s.words)?;
    d.set_item("non_symbol_words", s.non_symbol_words)?;
    d.set_item("mean_word_length", s.mean_word_length)?;
    d.set_item("hash_ratio", s.hash_ratio)?;
    d.set_item("ellipsis_ratio", s.ellipsis_ratio)?;
    d.set_item("bullet_lines_ratio", s.bullet_lines_ratio)?;
    d.set_item("ellipsis_lines_ratio", s.ellipsis_lines_ratio)?;
    d.set_item("alpha_words_ratio", s.alpha_words_ratio)?;
    d.set_item("stop_words", s.stop_words)?;
    Ok(d)
}

/// Every Gopher repetition metric of `text` and the removal reason under
/// Gopher's thresholds (`None` keeps it).
#[pyfunction]
fn repetition_scan<'py>(py: Python<'py>, text: PyBackedStr) -> PyResult<(Bound<'py, PyDict>, Option<&'static str>)> {
    let (stats, verdict) = detached(py, || {
        let s = repetition_stats(&text);
        let v = repetition_verdict(&s, &RepetitionThresholds::default());
        (s, v)
    });
    Ok((repetition_dict(py, &stats)?, verdict))
}

/// `repetition_scan` over a list, in parallel, in order.
#[pyfunction]
fn repetition_scan_batch<'py>(
    py: Python<'py>,
    texts: Vec<PyBackedStr>,
) -> PyResult<Vec<(Bound<'py, PyDict>, Option<&'static str>)>> {
    let results = detached(py, || {
        tunesmith_core::quality::repetition::repetition_verdicts(&texts, &RepetitionThresholds::default())
    });
    results.iter().map(|(s, v)| Ok((repetition_dict(py, s)?, *v))).collect()
}

/// Keyword thresholds of `GopherQualityConfig`; `None` for the argument
/// keeps the Gopher default, a negative number disables the check.
#[allow(clippy::too_many_arguments)]
fn gopher_config(
    min_doc_words: Option<i64>,
    max_doc_words: Option<i64>,
    min_avg_word_length: Option<f64>,
    max_avg_word_length: Option<f64>,
    max_symbol_word_ratio: Option<f64>,
    max_bullet_lines_ratio: Option<f64>,
    max_ellipsis_lines_ratio: Option<f64>,
    min_alpha_words_ratio: Option<f64>,
    min_stop_words: Option<i64>,
    stop_words: Option<Vec<String>>,
) -> GopherQualityConfig {
    let d = GopherQualityConfig::default();
    let count = |v: Option<i64>, default: Option<usize>| match v {
        None => default,
        Some(n) if n < 0 => None,
        Some(n) => usize::try_from(n).ok(),
    };
    let ratio = |v: Option<f64>, default: Option<f64>| match v {
        None => default,
        Some(x) if x < 0.0 => None,
        Some(x) => Some(x),
    };
    GopherQualityConfig {
        min_doc_words: count(min_doc_words, d.min_doc_words),
        max_doc_words: count(max_doc_words, d.max_doc_words),
        min_avg_word_length: ratio(min_avg_word_length, d.min_avg_word_length),
        max_avg_word_length: ratio(max_avg_word_length, d.max_avg_word_length),
        max_symbol_word_ratio: ratio(max_symbol_word_ratio, d.max_symbol_word_ratio),
        max_bullet_lines_ratio: ratio(max_bullet_lines_ratio, d.max_bullet_lines_ratio),
        max_ellipsis_lines_ratio: ratio(max_ellipsis_lines_ratio, d.max_ellipsis_lines_ratio),
        min_alpha_words_ratio: ratio(min_alpha_words_ratio, d.min_alpha_words_ratio),
        min_stop_words: count(min_stop_words, d.min_stop_words),
        stop_words: stop_words.unwrap_or(d.stop_words),
    }
}

/// Gopher quality statistics and removal reasons for a list of texts, in
/// parallel, in order: `[(stats_dict, reason_or_None), ...]`.
#[pyfunction]
#[pyo3(signature = (texts, *, min_doc_words=None, max_doc_words=None, min_avg_word_length=None,
    max_avg_word_length=None, max_symbol_word_ratio=None, max_bullet_lines_ratio=None,
    max_ellipsis_lines_ratio=None, min_alpha_words_ratio=None, min_stop_words=None, stop_words=None))]
#[allow(clippy::too_many_arguments)]
fn gopher_quality_batch<'py>(
    py: Python<'py>,
    texts: Vec<PyBackedStr>,
    min_doc_words: Option<i64>,
    max_doc_words: Option<i64>,
    min_avg_word_length: Option<f64>,
    max_avg_word_length: Option<f64>,
    max_symbol_word_ratio: Option<f64>,
    max_bullet_lines_ratio: Option<f64>,
    max_ellipsis_lines_ratio: Option<f64>,
    min_alpha_words_ratio: Option<f64>,
    min_stop_words: Option<i64>,
    stop_words: Option<Vec<String>>,
) -> PyResult<Vec<(Bound<'py, PyDict>, Option<&'static str>)>> {
    let cfg = gopher_config(
        min_doc_words, max_doc_words, min_avg_word_length, max_avg_word_length, max_symbol_word_ratio,
        max_bullet_lines_ratio, max_ellipsis_lines_ratio, min_alpha_words_ratio, min_stop_words, stop_words,
    );
    let results: Vec<(QualityStats, Option<&'static str>)> = detached(py, || {
        texts
            .par_iter()
            .map(|t| {
                let s = quality_stats(t, &cfg.stop_words);
                let v = quality_verdict_of(&s, &cfg);
                (s, v)
            })
            .collect()
    });
    results.iter().map(|(s, v)| Ok((quality_dict(py, s)?, *v))).collect()
}

/// Both Gopher filters (repetition, then quality, with default thresholds) on
/// one tokenization per text, in parallel, in order: a removal reason or `None`.
#[pyfunction]
#[pyo3(signature = (texts, *, quality=true, repetition=true))]
fn gopher_filters_batch(py: Python<'_>, texts: Vec<PyBackedStr>, quality: bool, repetition: bool) -> Vec<Option<&'static str>> {
    let q = GopherQualityConfig::default();
    let r = RepetitionThresholds::default();
    detached(py, || {
        tunesmith_core::quality::gopher_filters_batch(&texts, quality.then_some(&q), repetition.then_some(&r))
    })
}

/// The first length bound `text` violates, or `None`.
#[pyfunction]
#[pyo3(signature = (text, min_chars=None, max_chars=None, min_words=None, max_words=None))]
fn length_check(
    py: Python<'_>,
    text: PyBackedStr,
    min_chars: Option<usize>,
    max_chars: Option<usize>,
    min_words: Option<usize>,
    max_words: Option<usize>,
) -> Option<&'static str> {
    let limits = LengthLimits { min_chars, max_chars, min_words, max_words };
    detached(py, || length_verdict(&text, &limits))
}

/// The seed guide's `DataValidator` issues (token count aside) and its
/// `DataCleaner._quality_check` verdict: `(issues, quality_ok)`.
#[pyfunction]
fn seed_checks(py: Python<'_>, instruction: PyBackedStr, output: PyBackedStr) -> (Vec<&'static str>, bool) {
    detached(py, || (validate_fields(&instruction, &output), seed_quality_ok(&output)))
}

/// The words the Gopher filters see (datatrove's spaCy English tokens).
#[pyfunction]
fn word_tokens(py: Python<'_>, text: PyBackedStr) -> Vec<String> {
    detached(py, || tunesmith_core::text::words(&text).into_iter().map(str::to_string).collect())
}

/// Names of every PII kind, in a stable order.
#[pyfunction]
fn pii_kinds() -> Vec<&'static str> {
    PiiKind::ALL.iter().map(|k| k.name()).collect()
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(normalize_text, m)?)?;
    m.add_function(wrap_pyfunction!(normalize_texts, m)?)?;
    m.add_function(wrap_pyfunction!(pii_scan, m)?)?;
    m.add_function(wrap_pyfunction!(pii_scan_batch, m)?)?;
    m.add_function(wrap_pyfunction!(pii_redact, m)?)?;
    m.add_function(wrap_pyfunction!(pii_redact_batch, m)?)?;
    m.add_function(wrap_pyfunction!(pii_kinds, m)?)?;
    m.add_function(wrap_pyfunction!(word_tokens, m)?)?;
    m.add_function(wrap_pyfunction!(repetition_scan, m)?)?;
    m.add_function(wrap_pyfunction!(repetition_scan_batch, m)?)?;
    m.add_function(wrap_pyfunction!(gopher_quality_batch, m)?)?;
    m.add_function(wrap_pyfunction!(gopher_filters_batch, m)?)?;
    m.add_function(wrap_pyfunction!(length_check, m)?)?;
    m.add_function(wrap_pyfunction!(seed_checks, m)?)?;
    Ok(())
}

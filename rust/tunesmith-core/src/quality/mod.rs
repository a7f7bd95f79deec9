//! Per-document quality and repetition filters: Gopher's quality and
//! repetition heuristics (with datatrove's definitions) and the seed guide's
//! length and validator checks.

pub mod gopher;
pub mod length;
pub mod repetition;
pub mod validator;

use gopher::{quality_stats_with_words, quality_verdict_of, GopherQualityConfig};
use repetition::{repetition_stats_with_words, repetition_verdict, RepetitionThresholds};

/// Both Gopher filters on one tokenization: the repetition filter first, then
/// the quality filter (the order of datatrove's FineWeb and RefinedWeb
/// pipelines). Returns the first removal reason, or `None` to keep.
pub fn gopher_filters(
    text: &str,
    quality: Option<&GopherQualityConfig>,
    repetition: Option<&RepetitionThresholds>,
) -> Option<&'static str> {
    let tokens = crate::text::words(text);
    if let Some(t) = repetition {
        let stats = repetition_stats_with_words(text, &tokens);
        if let Some(reason) = repetition_verdict(&stats, t) {
            return Some(reason);
        }
    }
    let cfg = quality?;
    quality_verdict_of(&quality_stats_with_words(text, &tokens, &cfg.stop_words), cfg)
}

/// [`gopher_filters`] over many texts on the current rayon pool, in input order.
pub fn gopher_filters_batch<S: AsRef<str> + Sync>(
    texts: &[S],
    quality: Option<&GopherQualityConfig>,
    repetition: Option<&RepetitionThresholds>,
) -> Vec<Option<&'static str>> {
    use rayon::prelude::*;
    texts.par_iter().map(|t| gopher_filters(t.as_ref(), quality, repetition)).collect()
}

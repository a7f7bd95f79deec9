//! Per-document quality and repetition filters: Gopher's quality and
//! repetition heuristics (with datatrove's definitions) and the seed guide's
//! length and validator checks.

pub mod gopher;
pub mod length;
pub mod repetition;
pub mod validator;

use gopher::{quality_stats_with_words, quality_verdict_of, GopherQualityConfig};
use repetition::{repetition_reason, RepetitionThresholds};

/// Both Gopher filters on one tokenization: the repetition filter first, then
/// the quality filter (the order of datatrove's FineWeb and RefinedWeb
/// pipelines). Returns the first removal reason, or `None` to keep.
///
/// Each check stops as soon as the decision is known, as datatrove's filters
/// do: the paragraph and line duplicate checks run before the text is
/// tokenized, so a document they remove is never tokenized, and the n-gram
/// levels stop at the first one over its threshold.
pub fn gopher_filters(
    text: &str,
    quality: Option<&GopherQualityConfig>,
    repetition: Option<&RepetitionThresholds>,
) -> Option<&'static str> {
    let mut tokens = Vec::new();
    let mut tokenized = false;
    if let Some(t) = repetition {
        if let Some(reason) = repetition_reason(text, None, &mut tokens, t) {
            return Some(reason);
        }
        // Without a failing paragraph/line check the repetition filter
        // tokenized the text (an empty text is removed before that).
        tokenized = true;
    }
    let cfg = quality?;
    if !tokenized {
        tokens = crate::text::words(text);
    }
    quality_verdict_of(&quality_stats_with_words(text, &tokens, &cfg.stop_words), cfg)
}

/// Both Gopher filters, the quality filter first (the order of tunesmith's
/// streaming pipeline): the same decision and reason as the quality verdict,
/// then the repetition verdict, on one tokenization, each stopping as soon as
/// its decision is known.
pub fn gopher_quality_then_repetition(
    text: &str,
    quality: Option<&GopherQualityConfig>,
    repetition: Option<&RepetitionThresholds>,
) -> Option<&'static str> {
    if quality.is_none() && repetition.is_none() {
        return None;
    }
    let tokens = crate::text::words(text);
    if let Some(cfg) = quality {
        if let Some(reason) = quality_verdict_of(&quality_stats_with_words(text, &tokens, &cfg.stop_words), cfg) {
            return Some(reason);
        }
    }
    repetition.and_then(|t| repetition_reason(text, Some(&tokens), &mut Vec::new(), t))
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

#[cfg(test)]
mod tests {
    use super::gopher::{quality_stats, quality_verdict_of, GopherQualityConfig};
    use super::repetition::{repetition_stats, repetition_verdict, RepetitionThresholds};
    use super::{gopher_filters, gopher_quality_then_repetition};
    use proptest::prelude::*;

    /// Both orders of the two full (never early-stopping) verdicts.
    fn reference(text: &str, quality_first: bool) -> Option<&'static str> {
        let q = GopherQualityConfig::default();
        let r = RepetitionThresholds::default();
        let quality = quality_verdict_of(&quality_stats(text, &q.stop_words), &q);
        let rep = repetition_verdict(&repetition_stats(text), &r);
        if quality_first {
            quality.or(rep)
        } else {
            rep.or(quality)
        }
    }

    fn doc() -> impl Strategy<Value = String> {
        let word = proptest::sample::select(vec!["the", "a", "cat", "sat", "on", "mat", "with", "of", "and", "#", "...", "-", "x1"]);
        let piece = prop_oneof![word.prop_map(str::to_string), Just("\n".to_string()), Just("\n\n".to_string())];
        proptest::collection::vec(piece, 0..400).prop_map(|p| p.join(" "))
    }

    proptest! {
        #[test]
        fn early_stopping_keeps_every_decision(text in doc()) {
            let q = GopherQualityConfig::default();
            let r = RepetitionThresholds::default();
            prop_assert_eq!(gopher_filters(&text, Some(&q), Some(&r)), reference(&text, false));
            prop_assert_eq!(gopher_quality_then_repetition(&text, Some(&q), Some(&r)), reference(&text, true));
            prop_assert_eq!(gopher_filters(&text, None, Some(&r)), repetition_verdict(&repetition_stats(&text), &r));
        }
    }
}

//! Column-wise evaluation of the seed heuristics for sweeps over millions of
//! configurations. Each row calls the scalar function, so results are
//! bit-identical to scalar calls; rows are split into fixed chunks so the output
//! does not depend on the number of threads.

use rayon::prelude::*;

use super::methods::FineTuneMethod;
use super::training::{estimate_training_memory, TrainingMethod, TrainingTarget};
use crate::parallel::{at, broadcast_len, zeroed_f64_column, CHUNK_ROWS};
use crate::CoreError;

/// Struct-of-arrays output of [`estimate_training_memory_columns`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MemoryColumns {
    pub model_gb: Vec<f64>,
    pub optimizer_gb: Vec<f64>,
    pub activation_gb: Vec<f64>,
    pub total_gb: Vec<f64>,
}

/// Columns of the training-memory heuristic. Every input column has length 1
/// (broadcast) or the common length `n`. Methods are given as the
/// `(kind, bits)` codes of [`TrainingMethod::code`], targets as
/// [`TrainingTarget::code`].
pub fn estimate_training_memory_columns(
    params_millions: &[u64],
    method_kind: &[u8],
    method_bits: &[u8],
    target: &[u8],
) -> Result<MemoryColumns, CoreError> {
    let n = broadcast_len(&[
        ("model_params_millions", params_millions.len()),
        ("method", method_kind.len()),
        ("method bits", method_bits.len()),
        ("target", target.len()),
    ])?;
    if let Some(bad) = method_kind.iter().find(|k| TrainingMethod::from_code(**k, 0).is_none()) {
        return Err(CoreError::invalid("method", format!("unknown method code {bad}")));
    }
    if let Some(bad) = target.iter().find(|t| TrainingTarget::from_code(**t).is_none()) {
        return Err(CoreError::invalid("target", format!("unknown target code {bad}")));
    }
    let mut out = MemoryColumns {
        model_gb: zeroed_f64_column(n),
        optimizer_gb: zeroed_f64_column(n),
        activation_gb: zeroed_f64_column(n),
        total_gb: zeroed_f64_column(n),
    };
    out.model_gb
        .par_chunks_mut(CHUNK_ROWS)
        .zip(out.optimizer_gb.par_chunks_mut(CHUNK_ROWS))
        .zip(out.activation_gb.par_chunks_mut(CHUNK_ROWS))
        .zip(out.total_gb.par_chunks_mut(CHUNK_ROWS))
        .enumerate()
        .for_each(|(chunk, (((model, optimizer), activation), total))| {
            let start = chunk * CHUNK_ROWS;
            for j in 0..model.len() {
                let i = start + j;
                let method = TrainingMethod::from_code(at(method_kind, i), at(method_bits, i))
                    .unwrap_or_default();
                let target = TrainingTarget::from_code(at(target, i)).unwrap_or_default();
                let e = estimate_training_memory(at(params_millions, i), method, target);
                model[j] = e.model_gb;
                optimizer[j] = e.optimizer_gb;
                activation[j] = e.activation_gb;
                total[j] = e.total_gb;
            }
        });
    Ok(out)
}

/// Codes for [`FineTuneMethod`] variants in sweeps.
pub fn fine_tune_method_from_code(kind: u8, rank: u32, alpha: f32, bits: u8) -> Option<FineTuneMethod> {
    Some(match kind {
        0 => FineTuneMethod::LoRA { rank, alpha },
        1 => FineTuneMethod::QLoRA { rank, bits },
        2 => FineTuneMethod::Adapter,
        3 => FineTuneMethod::Prefix,
        4 => FineTuneMethod::IA3,
        5 => FineTuneMethod::Full,
        _ => return None,
    })
}

/// The six `FineTuneMethod` heuristics over columns of kind/rank/alpha/bits,
/// returned as six row-aligned columns in [`FineTuneMethod::heuristics`] order.
pub fn fine_tune_heuristics_columns(
    kind: &[u8],
    rank: &[u32],
    alpha: &[f32],
    bits: &[u8],
) -> Result<[Vec<f64>; 6], CoreError> {
    let n = broadcast_len(&[
        ("method", kind.len()),
        ("rank", rank.len()),
        ("alpha", alpha.len()),
        ("bits", bits.len()),
    ])?;
    if let Some(bad) = kind.iter().find(|k| fine_tune_method_from_code(**k, 0, 0.0, 0).is_none()) {
        return Err(CoreError::invalid("method", format!("unknown method code {bad}")));
    }
    let heuristic: [fn(&FineTuneMethod) -> f64; 6] = [
        FineTuneMethod::memory_reduction_factor,
        FineTuneMethod::trainable_params_percent,
        FineTuneMethod::memory_multiplier,
        FineTuneMethod::training_speedup,
        FineTuneMethod::quality_retention,
        FineTuneMethod::batch_size_multiplier,
    ];
    let mut cols: [Vec<f64>; 6] = Default::default();
    for (col, f) in cols.iter_mut().zip(heuristic) {
        *col = zeroed_f64_column(n);
        col.par_chunks_mut(CHUNK_ROWS)
            .enumerate()
            .for_each(|(chunk, out)| {
                let start = chunk * CHUNK_ROWS;
                for (j, value) in out.iter_mut().enumerate() {
                    let i = start + j;
                    let method = fine_tune_method_from_code(
                        at(kind, i),
                        at(rank, i),
                        at(alpha, i),
                        at(bits, i),
                    )
                    .unwrap_or(FineTuneMethod::Full);
                    *value = f(&method);
                }
            });
    }
    Ok(cols)
}

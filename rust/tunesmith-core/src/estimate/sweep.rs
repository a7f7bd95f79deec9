//! Column-wise evaluation of the seed heuristics for sweeps over millions of
//! configurations. Each row calls the scalar function, so results are
//! bit-identical to scalar calls; rows are split into fixed chunks so the output
//! does not depend on the number of threads.

use rayon::prelude::*;

use super::methods::FineTuneMethod;
use super::training::{base_gb, Multipliers, TrainingMethod, TrainingTarget};
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
    let mut out = MemoryColumns {
        model_gb: zeroed_f64_column(n),
        optimizer_gb: zeroed_f64_column(n),
        activation_gb: zeroed_f64_column(n),
        total_gb: zeroed_f64_column(n),
    };
    fill_training_memory_columns(
        params_millions,
        method_kind,
        method_bits,
        target,
        [&mut out.model_gb, &mut out.optimizer_gb, &mut out.activation_gb, &mut out.total_gb],
    )?;
    Ok(out)
}

/// [`estimate_training_memory_columns`] into caller-owned columns of the broadcast
/// length: repeated sweeps reuse their buffers instead of paying for fresh pages.
pub fn fill_training_memory_columns(
    params_millions: &[u64],
    method_kind: &[u8],
    method_bits: &[u8],
    target: &[u8],
    out: [&mut [f64]; 4],
) -> Result<(), CoreError> {
    let n = broadcast_len(&[
        ("model_params_millions", params_millions.len()),
        ("method", method_kind.len()),
        ("method bits", method_bits.len()),
        ("target", target.len()),
    ])?;
    for (column, name) in out.iter().zip(["model_gb", "optimizer_gb", "activation_gb", "total_gb"]) {
        if column.len() != n {
            return Err(CoreError::Broadcast { argument: format!("out.{name}"), got: column.len(), expected: n });
        }
    }
    if let Some(bad) = method_kind.iter().find(|k| TrainingMethod::from_code(**k, 0).is_none()) {
        return Err(CoreError::invalid("method", format!("unknown method code {bad}")));
    }
    if let Some(bad) = target.iter().find(|t| TrainingTarget::from_code(**t).is_none()) {
        return Err(CoreError::invalid("target", format!("unknown target code {bad}")));
    }
    let table = MultiplierTable::new();
    // One table lookup for the whole sweep when method and target are broadcast.
    let constant = (method_kind.len() == 1 && method_bits.len() == 1 && target.len() == 1)
        .then(|| multipliers_at(method_kind, method_bits, target, 0));
    let [model_gb, optimizer_gb, activation_gb, total_gb] = out;
    model_gb
        .par_chunks_mut(CHUNK_ROWS)
        .zip(optimizer_gb.par_chunks_mut(CHUNK_ROWS))
        .zip(activation_gb.par_chunks_mut(CHUNK_ROWS))
        .zip(total_gb.par_chunks_mut(CHUNK_ROWS))
        .enumerate()
        .for_each(|(chunk, (((model, optimizer), activation), total))| {
            let start = chunk * CHUNK_ROWS;
            let len = model.len();
            let rows = model.iter_mut().zip(optimizer.iter_mut()).zip(activation.iter_mut()).zip(total.iter_mut());
            match (constant, params_millions.len()) {
                (Some(m), n) if n > 1 => {
                    let params = &params_millions[start..start + len];
                    for ((((mo, op), ac), to), &p) in rows.zip(params) {
                        let e = m.apply(base_gb(p));
                        (*mo, *op, *ac, *to) = (e.model_gb, e.optimizer_gb, e.activation_gb, e.total_gb);
                    }
                }
                _ => {
                    for (j, (((mo, op), ac), to)) in rows.enumerate() {
                        let i = start + j;
                        let m = table.get(at(method_kind, i), at(method_bits, i), at(target, i));
                        let e = m.apply(base_gb(at(params_millions, i)));
                        (*mo, *op, *ac, *to) = (e.model_gb, e.optimizer_gb, e.activation_gb, e.total_gb);
                    }
                }
            }
        });
    Ok(())
}

#[inline(always)]
fn multipliers_at(kind: &[u8], bits: &[u8], target: &[u8], i: usize) -> Multipliers {
    let method = TrainingMethod::from_code(at(kind, i), at(bits, i)).unwrap_or_default();
    Multipliers::of(method, TrainingTarget::from_code(at(target, i)).unwrap_or_default())
}

/// Every `Multipliers` the seed can produce, indexed by method kind, whether
/// QLoRA bits are `<= 4` (the only thing the seed reads of them) and target, so a
/// row with its own method and target costs one table load instead of two matches.
struct MultiplierTable([Multipliers; 7 * 2 * 4]);

impl MultiplierTable {
    fn new() -> Self {
        Self(std::array::from_fn(|i| {
            let (kind, wide, target) = (i / 8, (i / 4) % 2, i % 4);
            let bits = if wide == 1 { 8 } else { 4 };
            multipliers_at(&[kind as u8], &[bits], &[target as u8], 0)
        }))
    }

    #[inline(always)]
    fn get(&self, kind: u8, bits: u8, target: u8) -> Multipliers {
        let i = usize::from(kind) * 8 + usize::from(bits > 4) * 4 + usize::from(target);
        self.0[i]
    }
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
    let mut cols: [Vec<f64>; 6] = std::array::from_fn(|_| zeroed_f64_column(n));
    let [c0, c1, c2, c3, c4, c5] = &mut cols;
    c0.par_chunks_mut(CHUNK_ROWS)
        .zip(c1.par_chunks_mut(CHUNK_ROWS))
        .zip(c2.par_chunks_mut(CHUNK_ROWS))
        .zip(c3.par_chunks_mut(CHUNK_ROWS))
        .zip(c4.par_chunks_mut(CHUNK_ROWS))
        .zip(c5.par_chunks_mut(CHUNK_ROWS))
        .enumerate()
        .for_each(|(chunk, (((((o0, o1), o2), o3), o4), o5))| {
            let start = chunk * CHUNK_ROWS;
            for j in 0..o0.len() {
                let i = start + j;
                let method = fine_tune_method_from_code(at(kind, i), at(rank, i), at(alpha, i), at(bits, i))
                    .unwrap_or(FineTuneMethod::Full);
                [o0[j], o1[j], o2[j], o3[j], o4[j], o5[j]] = method.heuristics();
            }
        });
    Ok(cols)
}

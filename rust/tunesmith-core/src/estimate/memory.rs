//! The accurate estimator's arithmetic, for sweeps over millions of jobs.
//!
//! Python reads the model's shape and reduces model + method to a [`Plan`] of plain numbers
//! (`tunesmith.estimate.memory.make_plan`); [`evaluate`] is a line-by-line mirror of
//! `evaluate_plan` there, in the same order of f64 operations, so a sweep row equals the scalar
//! estimate bit for bit. [`sweep`] evaluates columns of [`Job`] knobs in parallel with output
//! independent of the thread count.

use rayon::prelude::*;

use crate::parallel::{at, broadcast_len, CHUNK_ROWS};
use crate::CoreError;

/// Model + method reduced to numbers (field order = `_PLAN_FIELDS` in `memory.py`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Plan {
    pub method_code: f64,
    pub num_params: f64,
    pub train_fixed: f64,
    pub train_per_rank: f64,
    pub train_tensors: f64,
    pub af_fixed: f64,
    pub af_per_rank: f64,
    pub largest_fixed: f64,
    pub largest_per_rank: f64,
    pub quant_bytes: f64,
    pub quant_params: f64,
    pub quant_state: f64,
    pub extra_frozen_params: f64,
    pub extra_trainable_params: f64,
    pub extra_trainable_tensors: f64,
    pub hidden: f64,
    pub layers: f64,
    pub vocab: f64,
    pub intermediate: f64,
    pub layer_params: f64,
    pub lora_targets: f64,
    pub lora_extra_act: f64,
    pub virtual_tokens: f64,
    pub buffers: f64,
    pub act_l_sdpa2: f64,
    pub act_l_eager2: f64,
    pub act_l_eager2_s: f64,
    pub act_l_sdpa4: f64,
    pub act_l_eager4: f64,
    pub act_l_eager4_s: f64,
    pub act_o_sdpa2: f64,
    pub act_o_eager2: f64,
    pub act_o_eager2_s: f64,
    pub act_o_sdpa4: f64,
    pub act_o_eager4: f64,
    pub act_o_eager4_s: f64,
    /// 8-bit AdamW state of the rank-independent trainable tensors (maps included).
    pub a8_fixed: f64,
    /// `(d, count)`: LoRA tensors of `rank · d` values, for 8-bit AdamW's per-tensor layout.
    pub a8_pairs: [(f64, f64); 6],
    /// Per layer, token and sequence position under SDPA's math path (attention dropout on CPU).
    pub act_l_sdpa2_s: f64,
    pub act_l_sdpa4_s: f64,
    /// DPO: bytes per element of the fused LM head's tile held as fp32 temporaries in backward
    /// (29 with TRL's torch fallback, 0 with its Triton kernel).
    pub loss_tile_temp: f64,
    /// Sum of the input features of the LoRA targets of one layer.
    pub lora_in_features: f64,
    /// Gradient temporaries of one layer's backward, bytes per token: bf16 and fp32 activations, autocast.
    pub bwd_temp2: f64,
    pub bwd_temp4: f64,
    pub bwd_temp_amp: f64,
    /// Autocast with every weight trained: bytes per token and layer beyond the 16-bit table.
    pub amp_full_act: f64,
    /// Features per position of the keys SDPA saves under a mask (repeated to every query head), and
    /// key/value heads × head dim.
    pub prefix_kv_dim: f64,
    pub kv_dim: f64,
    /// Distinct LayerNorm inputs per layer (0 with RMSNorm).
    pub layer_norm_inputs: f64,
}

/// Number of fields of [`Plan`].
pub const PLAN_LEN: usize = 60;

impl Plan {
    /// From the field values in declaration order.
    pub fn from_slice(v: &[f64]) -> Result<Self, CoreError> {
        if v.len() != PLAN_LEN {
            return Err(CoreError::invalid(
                "plan",
                format!("expected {PLAN_LEN} numbers, got {}", v.len()),
            ));
        }
        if let Some(bad) = v.iter().find(|x| !x.is_finite()) {
            return Err(CoreError::invalid("plan", format!("non-finite value {bad}")));
        }
        Ok(Self {
            method_code: v[0],
            num_params: v[1],
            train_fixed: v[2],
            train_per_rank: v[3],
            train_tensors: v[4],
            af_fixed: v[5],
            af_per_rank: v[6],
            largest_fixed: v[7],
            largest_per_rank: v[8],
            quant_bytes: v[9],
            quant_params: v[10],
            quant_state: v[11],
            extra_frozen_params: v[12],
            extra_trainable_params: v[13],
            extra_trainable_tensors: v[14],
            hidden: v[15],
            layers: v[16],
            vocab: v[17],
            intermediate: v[18],
            layer_params: v[19],
            lora_targets: v[20],
            lora_extra_act: v[21],
            virtual_tokens: v[22],
            buffers: v[23],
            act_l_sdpa2: v[24],
            act_l_eager2: v[25],
            act_l_eager2_s: v[26],
            act_l_sdpa4: v[27],
            act_l_eager4: v[28],
            act_l_eager4_s: v[29],
            act_o_sdpa2: v[30],
            act_o_eager2: v[31],
            act_o_eager2_s: v[32],
            act_o_sdpa4: v[33],
            act_o_eager4: v[34],
            act_o_eager4_s: v[35],
            a8_fixed: v[36],
            a8_pairs: [
                (v[37], v[38]),
                (v[39], v[40]),
                (v[41], v[42]),
                (v[43], v[44]),
                (v[45], v[46]),
                (v[47], v[48]),
            ],
            act_l_sdpa2_s: v[49],
            act_l_sdpa4_s: v[50],
            loss_tile_temp: v[51],
            lora_in_features: v[52],
            bwd_temp2: v[53],
            bwd_temp4: v[54],
            bwd_temp_amp: v[55],
            amp_full_act: v[56],
            prefix_kv_dim: v[57],
            kv_dim: v[58],
            layer_norm_inputs: v[59],
        })
    }
}

/// bitsandbytes 8-bit Adam state of one tensor of `n` values (fp32 below 4096 values).
fn adam8_tensor_bytes(n: f64) -> f64 {
    if n >= 4096.0 {
        2.0 * n + 8.0 * (n / 256.0).ceil()
    } else {
        8.0 * n
    }
}

/// One row's knobs; codes index the tuples of `memory.py` (`PRECISIONS`, `OPTIMIZERS`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Job {
    pub batch_size: u32,
    pub seq_len: u32,
    pub rank: u32,
    pub checkpointing: u8,
    pub attention: u8,
    pub precision: u8,
    pub optimizer: u8,
    pub adamw_impl: u8,
    pub num_devices: u32,
    pub sharding: u8,
    pub grad_accum: u32,
}

impl Default for Job {
    fn default() -> Self {
        Self {
            batch_size: 1,
            seq_len: 512,
            rank: 8,
            checkpointing: 0,
            attention: 0,
            precision: 1,
            optimizer: 0,
            adamw_impl: 0,
            num_devices: 1,
            sharding: 0,
            grad_accum: 1,
        }
    }
}

/// Bytes per component (field order = `_OUT_FIELDS` in `memory.py`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Breakdown {
    pub weights: f64,
    pub trainable_params: f64,
    pub trainable: f64,
    pub gradients: f64,
    pub optimizer: f64,
    pub activations: f64,
    pub logits: f64,
    pub temporary: f64,
    pub inputs: f64,
    pub forward: f64,
    pub backward: f64,
    pub optimizer_step: f64,
    pub peak: f64,
    /// 0 forward, 1 backward, 2 optimizer step.
    pub peak_phase: f64,
}

/// Number of output columns of [`sweep`].
pub const OUT_LEN: usize = 14;

impl Breakdown {
    fn as_array(&self) -> [f64; OUT_LEN] {
        [
            self.weights,
            self.trainable_params,
            self.trainable,
            self.gradients,
            self.optimizer,
            self.activations,
            self.logits,
            self.temporary,
            self.inputs,
            self.forward,
            self.backward,
            self.optimizer_step,
            self.peak,
            self.peak_phase,
        ]
    }
}

/// Check a job's codes (the Python API validates names; this guards the column entry point).
pub fn validate(job: &Job) -> Result<(), CoreError> {
    let checks: [(&str, u32, u32); 9] = [
        ("batch_size", job.batch_size, u32::MAX),
        ("seq_len", job.seq_len, u32::MAX),
        ("num_devices", job.num_devices, u32::MAX),
        ("grad_accum", job.grad_accum, u32::MAX),
        ("precision", u32::from(job.precision) + 1, 5),
        ("optimizer", u32::from(job.optimizer) + 1, 6),
        ("adamw_impl", u32::from(job.adamw_impl) + 1, 3),
        ("sharding", u32::from(job.sharding) + 1, 5),
        ("attention", u32::from(job.attention) + 1, 3),
    ];
    for (name, value, max) in checks {
        if value == 0 {
            return Err(CoreError::invalid(name, "must be at least 1"));
        }
        if value > max {
            return Err(CoreError::invalid(name, format!("code {} out of range", value - 1)));
        }
    }
    if job.checkpointing > 1 {
        return Err(CoreError::invalid("gradient_checkpointing", "must be 0 or 1"));
    }
    Ok(())
}

/// The estimate for one job (mirror of `evaluate_plan`).
#[allow(clippy::too_many_lines, clippy::similar_names)]
pub fn evaluate(p: &Plan, j: &Job) -> Breakdown {
    let m = p.method_code;
    let full_like = (m == 0.0 || m == 8.0 || m == 9.0 || m == 10.0)
        && p.train_per_rank == 0.0
        && p.lora_targets == 0.0;
    let qlora = m == 3.0;
    let prec = j.precision;
    let wdt = if matches!(prec, 0 | 3 | 4) { 4.0 } else { 2.0 };
    let adt = if prec == 0 || qlora { 4.0 } else { 2.0 };
    let b = f64::from(j.batch_size);
    let s = f64::from(j.seq_len);
    let rank = f64::from(j.rank);
    let rows = if m == 8.0 { 2.0 * b } else { b };
    let tokens = rows * (if m == 6.0 { s + p.virtual_tokens } else { s });
    let n_dev = f64::from(j.num_devices);

    let train = p.train_fixed + rank * p.train_per_rank;
    let tdt = if full_like || m == 7.0 { wdt } else { 4.0 };
    let trainable_b = train * tdt + p.extra_trainable_params * wdt;
    let base_params = p.num_params - p.quant_params;
    let mut weights = if full_like {
        p.num_params * wdt
    } else if qlora {
        p.quant_bytes + base_params * 4.0 + train * 4.0
    } else {
        p.num_params * wdt + train * tdt
    };
    weights = weights + p.extra_frozen_params * wdt + p.extra_trainable_params * wdt;
    let mut grads = trainable_b;
    let tensors = p.train_tensors + p.extra_trainable_tensors;
    let all_train = train + p.extra_trainable_params;
    let opt = j.optimizer;
    let mut opt_b = match opt {
        0 | 2 => 2.0 * trainable_b + 4.0 * tensors,
        1 | 5 => {
            let mut b = p.a8_fixed;
            for (d, c) in p.a8_pairs {
                b += c * adam8_tensor_bytes(rank * d);
            }
            b
        }
        3 => 0.0,
        _ => (p.af_fixed + rank * p.af_per_rank) * tdt + 4.0 * tensors,
    };
    let largest = (p.largest_fixed + rank * p.largest_per_rank) * tdt;
    let mut step_temp = if opt == 0 && j.adamw_impl == 0 {
        trainable_b
    } else if (opt == 0 && j.adamw_impl == 1) || opt == 4 {
        2.0 * largest
    } else {
        0.0
    };

    let shard = j.sharding;
    if (shard == 3 || shard == 4) && n_dev > 1.0 {
        let gathered = 2.0 * p.layer_params * wdt;
        weights = weights / n_dev + gathered;
        grads /= n_dev;
        opt_b /= n_dev;
        step_temp /= n_dev;
    } else if shard == 2 && n_dev > 1.0 {
        grads /= n_dev;
        opt_b /= n_dev;
        step_temp /= n_dev;
    } else if shard == 1 && n_dev > 1.0 {
        grads *= 2.0;
    }

    let eager = j.attention == 1;
    let (mut layer, outside) = if adt == 2.0 {
        (
            if eager { p.act_l_eager2 + p.act_l_eager2_s * s } else { p.act_l_sdpa2 + p.act_l_sdpa2_s * s },
            if eager { p.act_o_eager2 } else { p.act_o_sdpa2 },
        )
    } else {
        (
            if eager { p.act_l_eager4 + p.act_l_eager4_s * s } else { p.act_l_sdpa4 + p.act_l_sdpa4_s * s },
            if eager { p.act_o_eager4 } else { p.act_o_sdpa4 },
        )
    };
    let amp = prec == 3 || prec == 4;
    if amp && full_like {
        // autocast's own bf16 input cast per linear and its fp32 norm outputs
        layer += p.amp_full_act;
    }
    layer = layer
        + p.lora_targets * 4.0 * rank
        + p.lora_extra_act * (if adt == 2.0 { 4.0 } else { 0.0 });
    if amp && p.lora_targets > 0.0 {
        // under autocast lora_A and lora_B read bf16 casts of their inputs, not PEFT's fp32 ones
        layer -= 2.0 * (p.lora_in_features + rank * p.lora_targets);
    }
    if amp && !full_like {
        // autocast's LayerNorm saves its fp32 input (4 B where the 16-bit table has 2 B)
        layer += 2.0 * p.layer_norm_inputs * p.hidden;
    }
    if m == 5.0 {
        // prefix tuning: SDPA saves the [b, 1, s, s + v] mask per layer (eager only adds it), and
        // keys/values over s + v positions at every query head
        if !eager {
            layer += (s + p.virtual_tokens) * adt;
        }
        layer += 2.0 * adt * ((s + p.virtual_tokens) * p.prefix_kv_dim / s - p.kv_dim);
    }
    let per_layer = layer * tokens;
    // the residual stream is fp32 under autocast: each checkpointed layer keeps its input at 4 B
    let resid_dt = if amp { 4.0 } else { adt };
    let (mut acts, mut work) = if j.checkpointing == 1 {
        (p.layers * p.hidden * resid_dt * tokens + outside * tokens, per_layer)
    } else {
        (p.layers * per_layer + outside * tokens, 0.0)
    };
    let layer_temp = if adt == 2.0 {
        (if amp { p.bwd_temp_amp } else { p.bwd_temp2 }) * tokens
    } else {
        p.bwd_temp4 * tokens
    };
    if amp {
        // autocast's saved bf16 copies of the fp32 matmul weights (one layer's under checkpointing)
        if j.checkpointing == 1 {
            acts += 2.0 * p.vocab * p.hidden;
            work += 2.0 * p.layer_params;
        } else {
            acts += 2.0 * (p.layers * p.layer_params + p.vocab * p.hidden);
        }
    }
    let mut logits_held = 4.0 * tokens * p.vocab;
    let mut logits_fwd = logits_held + tokens * p.vocab * (adt + if adt == 2.0 { 4.0 } else { 0.0 });
    let mut logits_bwd = logits_held + 8.0 * tokens * p.vocab;
    if m == 10.0 {
        // distillation: teacher logits, both temperature-scaled log-softmaxes and the KL's terms
        logits_held *= 3.0;
        logits_fwd = 11.0 * 4.0 * tokens * p.vocab;
        logits_bwd = 4.0 * 4.0 * tokens * p.vocab;
    }
    if m == 8.0 {
        // DPO: TRL's fused LM head makes no b·s·V logits, only one [min(N, 4096), 32768] tile per pass
        // (without Triton, whole-tile torch ops whose fp32 temporaries peak in backward)
        let n_tile = (rows * (s - 1.0)).min(4096.0);
        let tile = n_tile * 32768.0 * adt;
        logits_held = 0.0;
        logits_fwd = tile;
        logits_bwd = tile + p.loss_tile_temp * n_tile * p.vocab.min(32768.0);
    }
    let inputs = 24.0 * rows * s;

    let mut resident = weights + opt_b + inputs + p.buffers;
    if j.grad_accum > 1 {
        resident += grads;
    }
    let fwd = resident + acts + logits_fwd - logits_held;
    // Measured: with every weight trained the log-softmax is gone when the first checkpointed layer is
    // recomputed; with a frozen base it is still alive then.
    let recompute = if full_like { work } else { work + logits_held };
    // a layer's own backward holds its saved activations and its gradient temporaries (log-softmax gone)
    let layer_bwd = work + layer_temp;
    let bwd = resident + acts + logits_bwd.max(recompute).max(layer_bwd);
    let step = weights + opt_b + inputs + p.buffers + grads + step_temp;
    let peak = fwd.max(bwd).max(step);
    let (phase, at_acts, at_logits, at_temp) = if peak == step && step >= bwd && step >= fwd {
        (2.0, 0.0, 0.0, step_temp)
    } else if bwd >= fwd {
        if layer_bwd > logits_bwd && layer_bwd >= recompute {
            (1.0, acts + work, 0.0, layer_temp)
        } else if recompute > logits_bwd {
            (1.0, acts + work, recompute - work, 0.0)
        } else {
            (1.0, acts, logits_bwd, 0.0)
        }
    } else {
        (0.0, acts, logits_fwd - logits_held, 0.0)
    };
    Breakdown {
        weights,
        trainable_params: all_train,
        trainable: trainable_b,
        gradients: grads,
        optimizer: opt_b,
        activations: at_acts,
        logits: at_logits,
        temporary: at_temp,
        inputs,
        forward: fwd,
        backward: bwd,
        optimizer_step: step,
        peak,
        peak_phase: phase,
    }
}

/// Job columns for [`sweep`]: each of length 1 (broadcast) or the common length.
#[derive(Debug, Clone, Copy)]
pub struct JobColumns<'a> {
    pub batch_size: &'a [u32],
    pub seq_len: &'a [u32],
    pub rank: &'a [u32],
    pub checkpointing: &'a [u8],
    pub attention: &'a [u8],
    pub precision: &'a [u8],
    pub optimizer: &'a [u8],
    pub adamw_impl: &'a [u8],
    pub num_devices: &'a [u32],
    pub sharding: &'a [u8],
    pub grad_accum: &'a [u32],
}

impl JobColumns<'_> {
    fn row(&self, i: usize) -> Job {
        Job {
            batch_size: at(self.batch_size, i),
            seq_len: at(self.seq_len, i),
            rank: at(self.rank, i),
            checkpointing: at(self.checkpointing, i),
            attention: at(self.attention, i),
            precision: at(self.precision, i),
            optimizer: at(self.optimizer, i),
            adamw_impl: at(self.adamw_impl, i),
            num_devices: at(self.num_devices, i),
            sharding: at(self.sharding, i),
            grad_accum: at(self.grad_accum, i),
        }
    }

    fn len(&self) -> Result<usize, CoreError> {
        broadcast_len(&[
            ("batch_size", self.batch_size.len()),
            ("seq_len", self.seq_len.len()),
            ("rank", self.rank.len()),
            ("gradient_checkpointing", self.checkpointing.len()),
            ("attn_implementation", self.attention.len()),
            ("precision", self.precision.len()),
            ("optimizer", self.optimizer.len()),
            ("adamw_impl", self.adamw_impl.len()),
            ("num_devices", self.num_devices.len()),
            ("sharding", self.sharding.len()),
            ("grad_accum", self.grad_accum.len()),
        ])
    }

    /// Validate every row up front, so the parallel loop has no error path.
    fn validate(&self, n: usize) -> Result<(), CoreError> {
        fn check<T: Copy + PartialOrd + std::fmt::Display>(
            name: &str,
            col: &[T],
            ok: impl Fn(T) -> bool,
        ) -> Result<(), CoreError> {
            match col.iter().find(|v| !ok(**v)) {
                Some(bad) => Err(CoreError::invalid(name, format!("invalid value {bad}"))),
                None => Ok(()),
            }
        }
        if n == 0 {
            return Ok(());
        }
        check("batch_size", self.batch_size, |v| v >= 1)?;
        check("seq_len", self.seq_len, |v| v >= 1)?;
        check("num_devices", self.num_devices, |v| v >= 1)?;
        check("grad_accum", self.grad_accum, |v| v >= 1)?;
        check("gradient_checkpointing", self.checkpointing, |v| v <= 1)?;
        check("attn_implementation", self.attention, |v| v <= 2)?;
        check("precision", self.precision, |v| v <= 4)?;
        check("optimizer", self.optimizer, |v| v <= 5)?;
        check("adamw_impl", self.adamw_impl, |v| v <= 2)?;
        check("sharding", self.sharding, |v| v <= 4)
    }
}

/// [`evaluate`] over columns: `OUT_LEN` row-aligned output columns in [`Breakdown`] field order.
///
/// Only the columns whose bit is set in `outputs` (bit `k` = field `k`) are written; the others come
/// back empty. Every row is fully evaluated either way: writing fresh output memory (page faults and
/// the kernel zeroing pages), not the arithmetic, bounds the row rate, so callers that want only
/// the peak ask only for it.
pub fn sweep(plan: &Plan, cols: &JobColumns<'_>, outputs: u32) -> Result<Vec<Vec<f64>>, CoreError> {
    let n = cols.len()?;
    cols.validate(n)?;
    let selected: Vec<usize> = (0..OUT_LEN).filter(|k| outputs & (1 << k) != 0).collect();
    // Plain zeroed vectors: `parallel::zeroed_f64_column`'s huge-page advice made first-touch faults
    // 4-6x slower on these shared VMs under memory pressure (direct compaction).
    let mut out: Vec<Vec<f64>> = (0..OUT_LEN)
        .map(|k| if selected.contains(&k) { vec![0.0; n] } else { Vec::new() })
        .collect();
    let mut chunks: Vec<Vec<&mut [f64]>> = Vec::new();
    {
        let mut iters: Vec<_> = out
            .iter_mut()
            .filter(|c| !c.is_empty())
            .map(|c| c.chunks_mut(CHUNK_ROWS))
            .collect();
        if !iters.is_empty() {
            loop {
                let chunk: Vec<&mut [f64]> = iters.iter_mut().filter_map(Iterator::next).collect();
                if chunk.len() < selected.len() {
                    break;
                }
                chunks.push(chunk);
            }
        }
    }
    if chunks.is_empty() {
        // No column requested: still evaluate (the caller may be timing), write nothing.
        let checksum: f64 = (0..n)
            .into_par_iter()
            .map(|i| evaluate(plan, &cols.row(i)).peak)
            .sum();
        std::hint::black_box(checksum);
        return Ok(out);
    }
    chunks.par_iter_mut().enumerate().for_each(|(c, chunk)| {
        let start = c * CHUNK_ROWS;
        let rows = chunk[0].len();
        for j in 0..rows {
            let values = evaluate(plan, &cols.row(start + j)).as_array();
            for (col, k) in chunk.iter_mut().zip(&selected) {
                col[j] = values[*k];
            }
        }
    });
    Ok(out)
}

/// Bit mask selecting every output column of [`sweep`].
pub const ALL_OUTPUTS: u32 = (1 << OUT_LEN) - 1;

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> Plan {
        Plan {
            num_params: 1e9,
            train_fixed: 1e9,
            train_tensors: 100.0,
            largest_fixed: 1e8,
            hidden: 2048.0,
            layers: 16.0,
            vocab: 32000.0,
            intermediate: 5504.0,
            layer_params: 5e7,
            act_l_sdpa2: 80_000.0,
            act_l_sdpa4: 150_000.0,
            act_o_sdpa2: 20_000.0,
            act_o_sdpa4: 40_000.0,
            ..Plan::default()
        }
    }

    #[test]
    fn full_bf16_small_batch_peaks_in_the_optimizer_step_at_five_copies() {
        let e = evaluate(&plan(), &Job { seq_len: 16, ..Job::default() });
        assert!((e.peak_phase - 2.0).abs() < f64::EPSILON);
        assert!((e.peak - (5.0 * 2e9 + 400.0 + 24.0 * 16.0)).abs() < 1.0);
    }

    #[test]
    fn sweep_rows_equal_scalar_calls() {
        let p = plan();
        let batch: Vec<u32> = (1..=300).collect();
        let cols = JobColumns {
            batch_size: &batch,
            seq_len: &[2048],
            rank: &[8],
            checkpointing: &[1],
            attention: &[0],
            precision: &[1],
            optimizer: &[0],
            adamw_impl: &[0],
            num_devices: &[1],
            sharding: &[0],
            grad_accum: &[1],
        };
        let out = sweep(&p, &cols, ALL_OUTPUTS).unwrap_or_default();
        for (i, b) in batch.iter().enumerate() {
            let e = evaluate(&p, &Job { batch_size: *b, seq_len: 2048, checkpointing: 1, ..Job::default() });
            assert_eq!(out[12][i].to_bits(), e.peak.to_bits());
        }
    }

    #[test]
    fn bad_codes_name_the_argument() {
        let cols = JobColumns {
            batch_size: &[0],
            seq_len: &[1],
            rank: &[8],
            checkpointing: &[0],
            attention: &[0],
            precision: &[1],
            optimizer: &[0],
            adamw_impl: &[0],
            num_devices: &[1],
            sharding: &[0],
            grad_accum: &[1],
        };
        let err = sweep(&plan(), &cols, ALL_OUTPUTS).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.starts_with("batch_size"), "{err}");
    }
}

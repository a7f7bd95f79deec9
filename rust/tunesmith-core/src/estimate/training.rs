//! Exact port of ai-hwaccel's training-memory heuristic (`src/training.rs`,
//! seed 001): fixed per-method, per-target multiples of the FP16 weight size.
//! The accurate, shape-aware estimator lives beside it; this one is kept
//! verbatim so the seed's users get the seed's numbers.

use serde::{Deserialize, Serialize};
use std::fmt;

use super::requirement::AcceleratorRequirement;

/// The constants of ai-hwaccel's `units` module that the heuristic uses.
pub mod units {
    /// Parameters per million (for converting `model_params_millions` inputs).
    pub const PARAMS_PER_MILLION: f64 = 1_000_000.0;
    /// Bytes per parameter in FP16/BF16.
    pub const FP16_BYTES_PER_PARAM: f64 = 2.0;
    /// Bytes per gibibyte.
    pub const BYTES_PER_GIB: f64 = 1_073_741_824.0;
}

/// Fine-tuning / training method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum TrainingMethod {
    #[default]
    FullFineTune,
    LoRA,
    QLoRA {
        bits: u8,
    },
    Prefix,
    DPO,
    RLHF,
    Distillation,
}

impl TrainingMethod {
    /// Preferred accelerator requirement for this training method.
    pub fn preferred_accelerator(&self) -> AcceleratorRequirement {
        match self {
            Self::LoRA | Self::QLoRA { .. } => AcceleratorRequirement::Gpu,
            Self::FullFineTune | Self::DPO | Self::RLHF | Self::Distillation | Self::Prefix => {
                AcceleratorRequirement::GpuOrTpu
            }
        }
    }

    /// Compact column encoding used by sweeps: `(kind, bits)`.
    pub fn code(&self) -> (u8, u8) {
        match self {
            Self::FullFineTune => (0, 0),
            Self::LoRA => (1, 0),
            Self::QLoRA { bits } => (2, *bits),
            Self::Prefix => (3, 0),
            Self::DPO => (4, 0),
            Self::RLHF => (5, 0),
            Self::Distillation => (6, 0),
        }
    }

    /// Inverse of [`TrainingMethod::code`]; `None` for an unknown kind.
    pub fn from_code(kind: u8, bits: u8) -> Option<Self> {
        Some(match kind {
            0 => Self::FullFineTune,
            1 => Self::LoRA,
            2 => Self::QLoRA { bits },
            3 => Self::Prefix,
            4 => Self::DPO,
            5 => Self::RLHF,
            6 => Self::Distillation,
            _ => return None,
        })
    }
}

impl fmt::Display for TrainingMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::FullFineTune => write!(f, "full"),
            Self::LoRA => write!(f, "lora"),
            Self::QLoRA { bits } => write!(f, "qlora-{bits}bit"),
            Self::Prefix => write!(f, "prefix"),
            Self::DPO => write!(f, "dpo"),
            Self::RLHF => write!(f, "rlhf"),
            Self::Distillation => write!(f, "distillation"),
        }
    }
}

/// Target accelerator family for training memory estimation.
///
/// The seed derives no serde traits here; tunesmith adds serde's default
/// (externally tagged) shape so every seed type has the same JSON form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum TrainingTarget {
    #[default]
    Gpu,
    Tpu,
    Gaudi,
    Cpu,
}

impl TrainingTarget {
    pub fn code(self) -> u8 {
        match self {
            Self::Gpu => 0,
            Self::Tpu => 1,
            Self::Gaudi => 2,
            Self::Cpu => 3,
        }
    }

    pub fn from_code(code: u8) -> Option<Self> {
        Some(match code {
            0 => Self::Gpu,
            1 => Self::Tpu,
            2 => Self::Gaudi,
            3 => Self::Cpu,
            _ => return None,
        })
    }
}

/// Estimated device memory breakdown for a training/fine-tuning job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemoryEstimate {
    /// Model weights in GB.
    pub model_gb: f64,
    /// Optimizer states in GB.
    pub optimizer_gb: f64,
    /// Activations / KV cache in GB.
    pub activation_gb: f64,
    /// Total device memory needed in GB.
    pub total_gb: f64,
}

impl fmt::Display for MemoryEstimate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Model: {:.1} GB, Optimizer: {:.1} GB, Activations: {:.1} GB (total: {:.1} GB)",
            self.model_gb, self.optimizer_gb, self.activation_gb, self.total_gb
        )
    }
}

/// The seed's per-(method, target) table as multiples of the FP16 weight size.
///
/// The seed writes each branch as `(base * m, base * o, base * a [* qf])`; keeping
/// the two activation factors apart (`activation_quant` is 1.0 outside QLoRA, and
/// `x * 1.0 == x` exactly) makes `apply` perform the seed's multiplications in the
/// seed's order, so results are bit-identical (checked against the seed's own code
/// in `tests/seed_golden.rs`) while sweeps can hoist the table lookup out of the loop.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Multipliers {
    pub model: f64,
    pub optimizer: f64,
    pub activation: f64,
    pub activation_quant: f64,
}

impl Multipliers {
    const fn new(model: f64, optimizer: f64, activation: f64) -> Self {
        Self { model, optimizer, activation, activation_quant: 1.0 }
    }

    const fn quantized(qf: f64, optimizer: f64, activation: f64) -> Self {
        Self { model: qf, optimizer, activation, activation_quant: qf }
    }

    /// The seed's table: GPU and CPU share a branch; TPU and Gaudi are BF16-native.
    pub fn of(method: TrainingMethod, target: TrainingTarget) -> Self {
        use TrainingMethod as M;
        match target {
            TrainingTarget::Gpu | TrainingTarget::Cpu => match method {
                M::FullFineTune => Self::new(1.0, 2.0, 1.0),
                M::LoRA => Self::new(1.0, 0.1, 0.1),
                M::QLoRA { bits } => Self::quantized(if bits <= 4 { 0.25 } else { 0.5 }, 0.1, 0.1),
                M::Prefix => Self::new(1.0, 0.05, 0.05),
                // Two model copies + optimizer.
                M::DPO | M::RLHF => Self::new(2.0, 2.0, 1.5),
                // Teacher + student.
                M::Distillation => Self::new(1.5, 1.0, 0.8),
            },
            // XLA fuses activations; BF16 optimizer states.
            TrainingTarget::Tpu => match method {
                M::FullFineTune => Self::new(1.0, 1.5, 0.8),
                M::LoRA => Self::new(1.0, 0.15, 0.12),
                M::QLoRA { bits } => Self::quantized(if bits <= 4 { 0.4 } else { 0.6 }, 0.15, 0.12),
                M::Prefix => Self::new(1.0, 0.05, 0.05),
                M::DPO | M::RLHF => Self::new(2.0, 1.5, 1.2),
                M::Distillation => Self::new(1.5, 0.8, 0.6),
            },
            // Like TPU, with slightly higher activation overhead.
            TrainingTarget::Gaudi => match method {
                M::FullFineTune => Self::new(1.0, 1.5, 0.9),
                M::LoRA => Self::new(1.0, 0.12, 0.12),
                M::QLoRA { bits } => Self::quantized(if bits <= 4 { 0.35 } else { 0.55 }, 0.12, 0.12),
                M::Prefix => Self::new(1.0, 0.05, 0.06),
                M::DPO | M::RLHF => Self::new(2.0, 1.5, 1.3),
                M::Distillation => Self::new(1.5, 0.9, 0.7),
            },
        }
    }

    #[inline(always)]
    pub fn apply(&self, base_gb: f64) -> MemoryEstimate {
        let model = base_gb * self.model;
        let optimizer = base_gb * self.optimizer;
        let activation = base_gb * self.activation * self.activation_quant;
        MemoryEstimate {
            model_gb: model,
            optimizer_gb: optimizer,
            activation_gb: activation,
            total_gb: model + optimizer + activation,
        }
    }
}

/// FP16 weight size in GiB, as the seed computes it.
#[inline(always)]
#[allow(clippy::cast_precision_loss)]
pub fn base_gb(model_params_millions: u64) -> f64 {
    (model_params_millions as f64 * units::PARAMS_PER_MILLION * units::FP16_BYTES_PER_PARAM)
        / units::BYTES_PER_GIB
}

/// Estimate device memory for a fine-tuning job on an accelerator family
/// (the seed's heuristic: FP16 weights, Adam, batch 1; a lower bound, not a prediction).
pub fn estimate_training_memory(
    model_params_millions: u64,
    method: TrainingMethod,
    target: TrainingTarget,
) -> MemoryEstimate {
    Multipliers::of(method, target).apply(base_gb(model_params_millions))
}

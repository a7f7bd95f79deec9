//! Port of ai-hwaccel's `AcceleratorRequirement` (`src/requirement.rs`), the
//! type `TrainingMethod::preferred_accelerator` returns. Only the enum and its
//! `Display`/serde shape are ported: the `satisfied_by` check needs ai-hwaccel's
//! device-detection profiles, which tunesmith does not have.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Hardware accelerator requirement for a workload.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum AcceleratorRequirement {
    /// No accelerator needed: CPU is sufficient.
    #[default]
    None,
    /// Requires a GPU (CUDA, ROCm, Metal, Vulkan).
    Gpu,
    /// Requires a TPU with at least `min_chips` chips.
    Tpu { min_chips: u32 },
    /// Requires Intel Gaudi HPU.
    Gaudi,
    /// Requires AWS Neuron (Inferentia or Trainium).
    AwsNeuron,
    /// Either GPU or TPU will satisfy the requirement.
    GpuOrTpu,
    /// Any accelerator (GPU, TPU, or AI ASIC), not CPU-only.
    AnyAccelerator,
}

impl fmt::Display for AcceleratorRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::None => write!(f, "none"),
            Self::Gpu => write!(f, "gpu"),
            Self::Tpu { min_chips } => write!(f, "tpu({min_chips}+ chips)"),
            Self::Gaudi => write!(f, "gaudi"),
            Self::AwsNeuron => write!(f, "aws-neuron"),
            Self::GpuOrTpu => write!(f, "gpu-or-tpu"),
            Self::AnyAccelerator => write!(f, "any-accelerator"),
        }
    }
}

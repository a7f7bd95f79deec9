//! Training-memory estimation.
//!
//! * [`methods`] and [`training`] are exact ports of the seed heuristics
//!   (entrenar's `FineTuneMethod`, ai-hwaccel's `estimate_training_memory`):
//!   same arithmetic, same types, same `Display` strings.
//! * [`sweep`] evaluates those heuristics over columns, in parallel, with
//!   results bit-identical to the scalar calls.

pub mod memory;
pub mod methods;
pub mod requirement;
pub mod sweep;
pub mod training;

pub use methods::FineTuneMethod;
pub use requirement::AcceleratorRequirement;
pub use training::{estimate_training_memory, MemoryEstimate, TrainingMethod, TrainingTarget};

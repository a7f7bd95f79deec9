//! The seed's own code, compiled here verbatim (modulo the `units`/`requirement`
//! imports the seed pages do not show), checked against tunesmith's port on a grid
//! of ordinary and odd inputs, bit for bit and string for string.
//!
//! The same grid is written to `tests/golden/seed_golden.json`, which the Python
//! tests replay through the Python API. The file is compared here, so it cannot go
//! stale: regenerate it with `UPDATE_GOLDEN=1 cargo test -p tunesmith-core --test seed_golden`.

#![allow(clippy::all, dead_code)]

use tunesmith_core::estimate as port;

mod seed_original {
    pub mod units {
        pub const PARAMS_PER_MILLION: f64 = 1_000_000.0;
        pub const FP16_BYTES_PER_PARAM: f64 = 2.0;
        pub const BYTES_PER_GIB: f64 = 1_073_741_824.0;
    }

    pub mod fine_tune {
        // seed 000: entrenar src/efficiency/paradigm/fine_tune.rs
        #[derive(Debug, Clone, PartialEq)]
        pub enum FineTuneMethod {
            LoRA { rank: u32, alpha: f32 },
            QLoRA { rank: u32, bits: u8 },
            Adapter,
            Prefix,
            IA3,
            Full,
        }

        impl FineTuneMethod {
            pub fn lora(rank: u32) -> Self {
                Self::LoRA { rank, alpha: rank as f32 }
            }
            pub fn qlora(rank: u32) -> Self {
                Self::QLoRA { rank, bits: 4 }
            }
            pub fn memory_reduction_factor(&self) -> f64 {
                match self {
                    Self::LoRA { rank, .. } => 100.0 / f64::from(*rank).max(1.0),
                    Self::QLoRA { rank, bits } => {
                        let base_compression = 32.0 / f64::from(*bits);
                        let lora_overhead = f64::from(*rank) * 0.01;
                        base_compression / (1.0 + lora_overhead)
                    }
                    Self::Adapter => 10.0,
                    Self::Prefix => 20.0,
                    Self::IA3 => 50.0,
                    Self::Full => 1.0,
                }
            }
            pub fn trainable_params_percent(&self) -> f64 {
                match self {
                    Self::LoRA { rank, .. } => 0.1 * (f64::from(*rank) / 8.0).min(2.0),
                    Self::QLoRA { rank, .. } => 0.1 * (f64::from(*rank) / 8.0).min(2.0),
                    Self::Adapter => 5.0,
                    Self::Prefix => 1.0,
                    Self::IA3 => 0.01,
                    Self::Full => 100.0,
                }
            }
            pub fn memory_multiplier(&self) -> f64 {
                match self {
                    Self::Full => 4.0,
                    Self::LoRA { .. } => 1.2,
                    Self::QLoRA { .. } => 1.1,
                    Self::Adapter => 1.5,
                    Self::Prefix => 1.3,
                    Self::IA3 => 1.1,
                }
            }
            pub fn training_speedup(&self) -> f64 {
                match self {
                    Self::Full => 2.0,
                    Self::LoRA { rank, .. } => 5.0 / (1.0 + (f64::from(*rank) / 64.0)),
                    Self::QLoRA { .. } => 6.0,
                    Self::Adapter => 4.0,
                    Self::Prefix => 5.0,
                    Self::IA3 => 8.0,
                }
            }
            pub fn quality_retention(&self) -> f64 {
                match self {
                    Self::Full => 1.0,
                    Self::LoRA { rank, .. } => 0.95 + (f64::from(*rank) / 256.0).min(0.05),
                    Self::QLoRA { .. } => 0.93,
                    Self::Adapter => 0.92,
                    Self::Prefix => 0.88,
                    Self::IA3 => 0.90,
                }
            }
            pub fn batch_size_multiplier(&self) -> f64 {
                match self {
                    Self::Full => 1.0,
                    Self::LoRA { .. } => 2.0,
                    Self::QLoRA { .. } => 4.0,
                    Self::Adapter => 1.5,
                    Self::Prefix => 1.8,
                    Self::IA3 => 3.0,
                }
            }
        }

        impl std::fmt::Display for FineTuneMethod {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                match self {
                    Self::LoRA { rank, alpha } => write!(f, "LoRA(r={rank}, α={alpha})"),
                    Self::QLoRA { rank, bits } => write!(f, "QLoRA(r={rank}, {bits}-bit)"),
                    Self::Adapter => write!(f, "Adapter"),
                    Self::Prefix => write!(f, "Prefix"),
                    Self::IA3 => write!(f, "IA³"),
                    Self::Full => write!(f, "Full"),
                }
            }
        }
    }

    pub mod training {
        // seed 001: ai-hwaccel src/training.rs
        use std::fmt;

        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub enum AcceleratorRequirement {
            #[default]
            None,
            Gpu,
            Tpu { min_chips: u32 },
            Gaudi,
            AwsNeuron,
            GpuOrTpu,
            AnyAccelerator,
        }

        impl fmt::Display for AcceleratorRequirement {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    Self::None => write!(f, "none"),
                    Self::Gpu => write!(f, "gpu"),
                    Self::Tpu { min_chips } => write!(f, "tpu({}+ chips)", min_chips),
                    Self::Gaudi => write!(f, "gaudi"),
                    Self::AwsNeuron => write!(f, "aws-neuron"),
                    Self::GpuOrTpu => write!(f, "gpu-or-tpu"),
                    Self::AnyAccelerator => write!(f, "any-accelerator"),
                }
            }
        }

        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
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
            pub fn preferred_accelerator(&self) -> AcceleratorRequirement {
                match self {
                    Self::LoRA | Self::QLoRA { .. } => AcceleratorRequirement::Gpu,
                    Self::FullFineTune | Self::DPO | Self::RLHF | Self::Distillation | Self::Prefix => {
                        AcceleratorRequirement::GpuOrTpu
                    }
                }
            }
        }

        impl fmt::Display for TrainingMethod {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    Self::FullFineTune => write!(f, "full"),
                    Self::LoRA => write!(f, "lora"),
                    Self::QLoRA { bits } => write!(f, "qlora-{}bit", bits),
                    Self::Prefix => write!(f, "prefix"),
                    Self::DPO => write!(f, "dpo"),
                    Self::RLHF => write!(f, "rlhf"),
                    Self::Distillation => write!(f, "distillation"),
                }
            }
        }

        #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
        pub enum TrainingTarget {
            #[default]
            Gpu,
            Tpu,
            Gaudi,
            Cpu,
        }

        #[derive(Debug, Clone)]
        pub struct MemoryEstimate {
            pub model_gb: f64,
            pub optimizer_gb: f64,
            pub activation_gb: f64,
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

        pub fn estimate_training_memory(
            model_params_millions: u64,
            method: TrainingMethod,
            target: TrainingTarget,
        ) -> MemoryEstimate {
            let base_gb = (model_params_millions as f64
                * super::units::PARAMS_PER_MILLION
                * super::units::FP16_BYTES_PER_PARAM)
                / super::units::BYTES_PER_GIB;

            match target {
                TrainingTarget::Tpu => estimate_tpu_training(base_gb, method),
                TrainingTarget::Gaudi => estimate_gaudi_training(base_gb, method),
                TrainingTarget::Gpu | TrainingTarget::Cpu => estimate_gpu_training(base_gb, method),
            }
        }

        fn estimate_gpu_training(base_gb: f64, method: TrainingMethod) -> MemoryEstimate {
            let (model, optimizer, activation) = match method {
                TrainingMethod::FullFineTune => (base_gb, base_gb * 2.0, base_gb * 1.0),
                TrainingMethod::LoRA => (base_gb, base_gb * 0.1, base_gb * 0.1),
                TrainingMethod::QLoRA { bits } => {
                    let qf = if bits <= 4 { 0.25 } else { 0.5 };
                    (base_gb * qf, base_gb * 0.1, base_gb * 0.1 * qf)
                }
                TrainingMethod::Prefix => (base_gb, base_gb * 0.05, base_gb * 0.05),
                TrainingMethod::DPO | TrainingMethod::RLHF => {
                    (base_gb * 2.0, base_gb * 2.0, base_gb * 1.5)
                }
                TrainingMethod::Distillation => (base_gb * 1.5, base_gb * 1.0, base_gb * 0.8),
            };
            MemoryEstimate {
                model_gb: model,
                optimizer_gb: optimizer,
                activation_gb: activation,
                total_gb: model + optimizer + activation,
            }
        }

        fn estimate_tpu_training(base_gb: f64, method: TrainingMethod) -> MemoryEstimate {
            let (model, optimizer, activation) = match method {
                TrainingMethod::FullFineTune => (base_gb, base_gb * 1.5, base_gb * 0.8),
                TrainingMethod::LoRA => (base_gb, base_gb * 0.15, base_gb * 0.12),
                TrainingMethod::QLoRA { bits } => {
                    let qf = if bits <= 4 { 0.4 } else { 0.6 };
                    (base_gb * qf, base_gb * 0.15, base_gb * 0.12 * qf)
                }
                TrainingMethod::Prefix => (base_gb, base_gb * 0.05, base_gb * 0.05),
                TrainingMethod::DPO | TrainingMethod::RLHF => (base_gb * 2.0, base_gb * 1.5, base_gb * 1.2),
                TrainingMethod::Distillation => (base_gb * 1.5, base_gb * 0.8, base_gb * 0.6),
            };
            MemoryEstimate {
                model_gb: model,
                optimizer_gb: optimizer,
                activation_gb: activation,
                total_gb: model + optimizer + activation,
            }
        }

        fn estimate_gaudi_training(base_gb: f64, method: TrainingMethod) -> MemoryEstimate {
            let (model, optimizer, activation) = match method {
                TrainingMethod::FullFineTune => (base_gb, base_gb * 1.5, base_gb * 0.9),
                TrainingMethod::LoRA => (base_gb, base_gb * 0.12, base_gb * 0.12),
                TrainingMethod::QLoRA { bits } => {
                    let qf = if bits <= 4 { 0.35 } else { 0.55 };
                    (base_gb * qf, base_gb * 0.12, base_gb * 0.12 * qf)
                }
                TrainingMethod::Prefix => (base_gb, base_gb * 0.05, base_gb * 0.06),
                TrainingMethod::DPO | TrainingMethod::RLHF => (base_gb * 2.0, base_gb * 1.5, base_gb * 1.3),
                TrainingMethod::Distillation => (base_gb * 1.5, base_gb * 0.9, base_gb * 0.7),
            };
            MemoryEstimate {
                model_gb: model,
                optimizer_gb: optimizer,
                activation_gb: activation,
                total_gb: model + optimizer + activation,
            }
        }
    }
}

use seed_original::fine_tune as sf;
use seed_original::training as st;

const RANKS: &[u32] = &[0, 1, 2, 4, 7, 8, 15, 16, 32, 63, 64, 128, 255, 256, 257, 1024, 4_000_000, u32::MAX];
const ALPHAS: &[f32] = &[
    0.0, -0.0, 1.0, 8.0, 16.0, 0.1, -1.5, 1e-45, 3.4028235e38, -3.4028235e38, 4294967296.0,
    16777217.0, 1e20, f32::INFINITY, f32::NEG_INFINITY, f32::NAN,
];
const BITS: &[u8] = &[0, 1, 2, 3, 4, 5, 8, 16, 32, 255];
const PARAMS: &[u64] = &[
    0, 1, 7, 125, 1_000, 7_000, 13_000, 70_000, 405_000, 1_000_000, 9_007_199_254_740_993, u64::MAX,
];

fn port_method(m: &sf::FineTuneMethod) -> port::FineTuneMethod {
    match *m {
        sf::FineTuneMethod::LoRA { rank, alpha } => port::FineTuneMethod::LoRA { rank, alpha },
        sf::FineTuneMethod::QLoRA { rank, bits } => port::FineTuneMethod::QLoRA { rank, bits },
        sf::FineTuneMethod::Adapter => port::FineTuneMethod::Adapter,
        sf::FineTuneMethod::Prefix => port::FineTuneMethod::Prefix,
        sf::FineTuneMethod::IA3 => port::FineTuneMethod::IA3,
        sf::FineTuneMethod::Full => port::FineTuneMethod::Full,
    }
}

fn fine_tune_grid() -> Vec<sf::FineTuneMethod> {
    let mut grid = vec![
        sf::FineTuneMethod::Adapter,
        sf::FineTuneMethod::Prefix,
        sf::FineTuneMethod::IA3,
        sf::FineTuneMethod::Full,
    ];
    for &rank in RANKS {
        grid.push(sf::FineTuneMethod::lora(rank));
        grid.push(sf::FineTuneMethod::qlora(rank));
        for &alpha in ALPHAS {
            grid.push(sf::FineTuneMethod::LoRA { rank, alpha });
        }
        for &bits in BITS {
            grid.push(sf::FineTuneMethod::QLoRA { rank, bits });
        }
    }
    grid
}

fn training_methods() -> Vec<st::TrainingMethod> {
    let mut v = vec![
        st::TrainingMethod::default(),
        st::TrainingMethod::LoRA,
        st::TrainingMethod::Prefix,
        st::TrainingMethod::DPO,
        st::TrainingMethod::RLHF,
        st::TrainingMethod::Distillation,
    ];
    v.extend(BITS.iter().map(|&bits| st::TrainingMethod::QLoRA { bits }));
    v
}

fn port_training(m: st::TrainingMethod) -> port::TrainingMethod {
    match m {
        st::TrainingMethod::FullFineTune => port::TrainingMethod::FullFineTune,
        st::TrainingMethod::LoRA => port::TrainingMethod::LoRA,
        st::TrainingMethod::QLoRA { bits } => port::TrainingMethod::QLoRA { bits },
        st::TrainingMethod::Prefix => port::TrainingMethod::Prefix,
        st::TrainingMethod::DPO => port::TrainingMethod::DPO,
        st::TrainingMethod::RLHF => port::TrainingMethod::RLHF,
        st::TrainingMethod::Distillation => port::TrainingMethod::Distillation,
    }
}

const TARGETS: [(st::TrainingTarget, port::TrainingTarget, &str); 4] = [
    (st::TrainingTarget::Gpu, port::TrainingTarget::Gpu, "Gpu"),
    (st::TrainingTarget::Tpu, port::TrainingTarget::Tpu, "Tpu"),
    (st::TrainingTarget::Gaudi, port::TrainingTarget::Gaudi, "Gaudi"),
    (st::TrainingTarget::Cpu, port::TrainingTarget::Cpu, "Cpu"),
];

fn hex(x: f64) -> String {
    format!("{:016x}", x.to_bits())
}

fn seed_heuristics(m: &sf::FineTuneMethod) -> [f64; 6] {
    [
        m.memory_reduction_factor(),
        m.trainable_params_percent(),
        m.memory_multiplier(),
        m.training_speedup(),
        m.quality_retention(),
        m.batch_size_multiplier(),
    ]
}

#[test]
fn fine_tune_method_matches_seed_bit_for_bit() {
    for m in fine_tune_grid() {
        let p = port_method(&m);
        let expected = seed_heuristics(&m);
        let got = p.heuristics();
        for (e, g) in expected.iter().zip(got.iter()) {
            assert_eq!(e.to_bits(), g.to_bits(), "{m:?}: seed {e} vs port {g}");
        }
        assert_eq!(m.to_string(), p.to_string());
    }
    assert_eq!(port::FineTuneMethod::lora(8), port_method(&sf::FineTuneMethod::lora(8)));
    assert_eq!(port::FineTuneMethod::qlora(16), port_method(&sf::FineTuneMethod::qlora(16)));
}

#[test]
fn training_memory_matches_seed_bit_for_bit() {
    for &params in PARAMS {
        for m in training_methods() {
            for (seed_target, port_target, _) in TARGETS {
                let e = st::estimate_training_memory(params, m, seed_target);
                let g = port::estimate_training_memory(params, port_training(m), port_target);
                for (a, b) in [
                    (e.model_gb, g.model_gb),
                    (e.optimizer_gb, g.optimizer_gb),
                    (e.activation_gb, g.activation_gb),
                    (e.total_gb, g.total_gb),
                ] {
                    assert_eq!(a.to_bits(), b.to_bits(), "{params} {m:?} {seed_target:?}");
                }
                assert_eq!(e.to_string(), g.to_string());
            }
            assert_eq!(m.to_string(), port_training(m).to_string());
            assert_eq!(
                m.preferred_accelerator().to_string(),
                port_training(m).preferred_accelerator().to_string()
            );
        }
    }
}

#[test]
fn known_display_strings() {
    assert_eq!(port::FineTuneMethod::lora(8).to_string(), "LoRA(r=8, α=8)");
    assert_eq!(port::FineTuneMethod::qlora(16).to_string(), "QLoRA(r=16, 4-bit)");
    assert_eq!(
        port::FineTuneMethod::LoRA { rank: 8, alpha: 4294967296.0 }.to_string(),
        "LoRA(r=8, α=4294967300)"
    );
    assert_eq!(port::FineTuneMethod::IA3.to_string(), "IA³");
    assert_eq!(port::TrainingMethod::QLoRA { bits: 4 }.to_string(), "qlora-4bit");
    assert_eq!(
        port::estimate_training_memory(7000, port::TrainingMethod::LoRA, port::TrainingTarget::Gpu).to_string(),
        "Model: 13.0 GB, Optimizer: 1.3 GB, Activations: 1.3 GB (total: 15.6 GB)"
    );
    assert_eq!(port::AcceleratorRequirement::Tpu { min_chips: 4 }.to_string(), "tpu(4+ chips)");
    assert_eq!(port::TrainingMethod::default().preferred_accelerator().to_string(), "gpu-or-tpu");
}

#[test]
fn serde_shapes_are_externally_tagged() {
    let lora = serde_json::to_string(&port::FineTuneMethod::lora(8)).unwrap();
    assert_eq!(lora, r#"{"LoRA":{"rank":8,"alpha":8.0}}"#);
    assert_eq!(serde_json::to_string(&port::FineTuneMethod::Adapter).unwrap(), r#""Adapter""#);
    assert_eq!(
        serde_json::to_string(&port::TrainingMethod::QLoRA { bits: 4 }).unwrap(),
        r#"{"QLoRA":{"bits":4}}"#
    );
    let back: port::FineTuneMethod = serde_json::from_str(r#"{"QLoRA":{"rank":16,"bits":4}}"#).unwrap();
    assert_eq!(back, port::FineTuneMethod::qlora(16));
}

/// The grid as JSON lines for the Python replay.
fn golden_text() -> String {
    let mut lines = Vec::new();
    for m in fine_tune_grid() {
        let (ctor, rank, alpha, bits) = match m {
            sf::FineTuneMethod::LoRA { rank, alpha } => ("LoRA", rank, format!("{:08x}", alpha.to_bits()), 0),
            sf::FineTuneMethod::QLoRA { rank, bits } => ("QLoRA", rank, String::new(), bits),
            sf::FineTuneMethod::Adapter => ("Adapter", 0, String::new(), 0),
            sf::FineTuneMethod::Prefix => ("Prefix", 0, String::new(), 0),
            sf::FineTuneMethod::IA3 => ("IA3", 0, String::new(), 0),
            sf::FineTuneMethod::Full => ("Full", 0, String::new(), 0),
        };
        let values: Vec<String> = seed_heuristics(&m).iter().map(|v| hex(*v)).collect();
        lines.push(serde_json::json!({
            "kind": "fine_tune", "ctor": ctor, "rank": rank, "alpha_f32_bits": alpha, "bits": bits,
            "display": m.to_string(), "values": values,
        }).to_string());
    }
    for &params in PARAMS {
        for m in training_methods() {
            for (seed_target, _, target_name) in TARGETS {
                let e = st::estimate_training_memory(params, m, seed_target);
                let (method, bits) = match m {
                    st::TrainingMethod::QLoRA { bits } => ("QLoRA".to_string(), bits),
                    other => (format!("{other:?}"), 0),
                };
                lines.push(serde_json::json!({
                    "kind": "training", "params": params, "method": method, "bits": bits,
                    "target": target_name, "display": e.to_string(),
                    "method_display": m.to_string(),
                    "preferred": m.preferred_accelerator().to_string(),
                    "values": [hex(e.model_gb), hex(e.optimizer_gb), hex(e.activation_gb), hex(e.total_gb)],
                }).to_string());
            }
        }
    }
    lines.join("\n") + "\n"
}

#[test]
fn golden_file_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/golden/seed_golden.jsonl");
    let text = golden_text();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    let on_disk = std::fs::read_to_string(&path).expect("tests/golden/seed_golden.jsonl (UPDATE_GOLDEN=1 writes it)");
    assert!(on_disk == text, "tests/golden/seed_golden.jsonl is stale: rerun with UPDATE_GOLDEN=1");
}

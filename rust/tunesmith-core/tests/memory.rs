//! Properties of the estimator's arithmetic: sweeps equal scalar calls whatever the thread count,
//! memory grows with batch and sequence, sharding divides the states, checkpointing lowers the peak.

use proptest::prelude::*;
use tunesmith_core::estimate::memory::{evaluate, sweep, Job, JobColumns, Plan, ALL_OUTPUTS, OUT_LEN};

/// A Llama-3-8B-like plan (as `make_plan` builds it) with LoRA or full fine-tuning.
fn plan(lora: bool) -> Plan {
    Plan {
        method_code: if lora { 1.0 } else { 0.0 },
        num_params: 8_030_261_248.0,
        train_fixed: if lora { 0.0 } else { 8_030_261_248.0 },
        train_per_rank: if lora { 851_968.0 } else { 0.0 },
        train_tensors: if lora { 256.0 } else { 291.0 },
        af_fixed: 1_000_000.0,
        af_per_rank: 256.0,
        largest_fixed: if lora { 0.0 } else { 525_336_576.0 },
        largest_per_rank: if lora { 4096.0 } else { 0.0 },
        hidden: 4096.0,
        layers: 32.0,
        vocab: 128_256.0,
        intermediate: 14_336.0,
        layer_params: 218_112_000.0,
        lora_targets: if lora { 4.0 } else { 0.0 },
        buffers: 512.0,
        act_l_sdpa2: 197_000.0,
        act_l_eager2: 200_000.0,
        act_l_eager2_s: 192.0,
        act_l_sdpa4: 360_000.0,
        act_l_eager4: 365_000.0,
        act_l_eager4_s: 128.0,
        act_o_sdpa2: 35_000.0,
        act_o_eager2: 35_000.0,
        act_o_sdpa4: 50_000.0,
        act_o_eager4: 50_000.0,
        ..Plan::default()
    }
}

fn job() -> impl Strategy<Value = Job> {
    (
        (1u32..256, 1u32..32_768, 1u32..512, 0u8..2, 0u8..3, 0u8..5),
        (0u8..6, 0u8..3, 1u32..128, 0u8..5, 1u32..16),
    )
        .prop_map(|((b, s, r, c, a, p), (o, i, n, sh, g))| Job {
            batch_size: b,
            seq_len: s,
            rank: r,
            checkpointing: c,
            attention: a,
            precision: p,
            optimizer: o,
            adamw_impl: i,
            num_devices: n,
            sharding: sh,
            grad_accum: g,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn monotone_in_batch_and_sequence(j in job(), lora in any::<bool>()) {
        let p = plan(lora);
        let e = evaluate(&p, &j);
        let more_rows = evaluate(&p, &Job { batch_size: j.batch_size + 1, ..j });
        let longer = evaluate(&p, &Job { seq_len: j.seq_len + 1, ..j });
        prop_assert!(more_rows.peak >= e.peak);
        prop_assert!(longer.peak >= e.peak);
    }

    #[test]
    fn peak_is_the_largest_phase(j in job(), lora in any::<bool>()) {
        let e = evaluate(&plan(lora), &j);
        prop_assert_eq!(e.peak, e.forward.max(e.backward).max(e.optimizer_step));
    }

    #[test]
    fn zero2_divides_gradients_and_optimizer_state(j in job(), n in 2u32..64) {
        let p = plan(false);
        let one = evaluate(&p, &Job { num_devices: 1, sharding: 0, ..j });
        let z2 = evaluate(&p, &Job { num_devices: n, sharding: 2, ..j });
        prop_assert!((z2.optimizer - one.optimizer / f64::from(n)).abs() < 1e-3);
        prop_assert!((z2.gradients - one.gradients / f64::from(n)).abs() < 1e-3);
        prop_assert!(z2.peak <= one.peak);
    }

    #[test]
    fn checkpointing_never_raises_the_peak(j in job(), lora in any::<bool>()) {
        let p = plan(lora);
        let off = evaluate(&p, &Job { checkpointing: 0, ..j });
        let on = evaluate(&p, &Job { checkpointing: 1, ..j });
        prop_assert!(on.peak <= off.peak);
    }
}

#[test]
fn sweep_equals_scalar_calls_bit_for_bit() {
    let p = plan(true);
    let n = 200_000usize;
    let batch: Vec<u32> = (0..n as u64).map(|i| 1 + u32::try_from(i * 7919 % 97).unwrap_or(0)).collect();
    let seq: Vec<u32> = (0..n as u64).map(|i| 1 + u32::try_from(i * 104_729 % 16_384).unwrap_or(0)).collect();
    let ckpt: Vec<u8> = (0..n).map(|i| u8::from(i % 2 == 1)).collect();
    let prec: Vec<u8> = (0..n).map(|i| u8::try_from(i % 5).unwrap_or(0)).collect();
    let cols = JobColumns {
        batch_size: &batch,
        seq_len: &seq,
        rank: &[16],
        checkpointing: &ckpt,
        attention: &[0],
        precision: &prec,
        optimizer: &[0],
        adamw_impl: &[0],
        num_devices: &[1],
        sharding: &[0],
        grad_accum: &[1],
    };
    let out = sweep(&p, &cols, ALL_OUTPUTS).expect("valid columns");
    assert_eq!(out.len(), OUT_LEN);
    for i in (0..n).step_by(997) {
        let e = evaluate(
            &p,
            &Job { batch_size: batch[i], seq_len: seq[i], rank: 16, checkpointing: ckpt[i], precision: prec[i], ..Job::default() },
        );
        assert_eq!(out[12][i].to_bits(), e.peak.to_bits());
        assert_eq!(out[5][i].to_bits(), e.activations.to_bits());
    }
    let serial = rayon::ThreadPoolBuilder::new().num_threads(1).build().expect("pool");
    let again = serial.install(|| sweep(&p, &cols, ALL_OUTPUTS)).expect("valid columns");
    assert_eq!(out, again);
}

#[test]
fn broadcast_errors_name_the_column() {
    let cols = JobColumns {
        batch_size: &[1, 2, 3],
        seq_len: &[1, 2],
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
    let err = sweep(&plan(true), &cols, ALL_OUTPUTS).expect_err("lengths differ").to_string();
    assert!(err.contains("seq_len"), "{err}");
}

#[test]
#[ignore = "timing: cargo test --release -p tunesmith-core --test memory -- --ignored --nocapture"]
fn sweep_rate() {
    let p = plan(true);
    let n = 10_000_000usize;
    let batch: Vec<u32> = (0..n as u64).map(|i| 1 + u32::try_from(i % 64).unwrap_or(0)).collect();
    let seq: Vec<u32> = (0..n as u64).map(|i| 128 + u32::try_from(i * 7 % 16_000).unwrap_or(0)).collect();
    let cols = JobColumns {
        batch_size: &batch,
        seq_len: &seq,
        rank: &[16],
        checkpointing: &[0],
        attention: &[0],
        precision: &[1],
        optimizer: &[0],
        adamw_impl: &[0],
        num_devices: &[1],
        sharding: &[0],
        grad_accum: &[1],
    };
    for (name, mask) in [("all 14 columns", ALL_OUTPUTS), ("peak + phase", (1 << 12) | (1 << 13))] {
        let t = std::time::Instant::now();
        let out = sweep(&p, &cols, mask).expect("valid");
        let dt = t.elapsed().as_secs_f64();
        println!("{name}: {} rows in {dt:.3} s = {:.1} M/s", out[12].len(), n as f64 / dt / 1e6);
    }
}

#[test]
fn dpo_torch_fallback_adds_its_tile_temporaries_to_backward_only() {
    let triton = Plan { method_code: 8.0, ..plan(false) };
    let torch = Plan { loss_tile_temp: 29.0, ..triton };
    for (b, s) in [(1u32, 64u32), (1, 512), (4, 2048)] {
        let j = Job { batch_size: b, seq_len: s, ..Job::default() };
        let (a, c) = (evaluate(&triton, &j), evaluate(&torch, &j));
        // rows = 2·b (chosen + rejected); the tile is capped at 4096 tokens × 32768 vocabulary entries
        let n_tile = (2.0 * f64::from(b) * (f64::from(s) - 1.0)).min(4096.0);
        assert!((c.backward - a.backward - 29.0 * n_tile * 32768.0).abs() < 1.0);
        assert_eq!(c.forward.to_bits(), a.forward.to_bits());
        assert_eq!(c.optimizer_step.to_bits(), a.optimizer_step.to_bits());
    }
}

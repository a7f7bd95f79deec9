//! Profiling helper for the clean pass, without Python in the way.
//!
//! ```text
//! cargo run --release --example clean_file -- FILE [MODE] [REPEATS]
//! ```
//!
//! Modes: `exact` (default; exact dedup only, as `benches/bench_dedup.py`),
//! `near` (MinHash near dedup only, as the same bench),
//! `default` (every step on) and `none` (read, decode, normalise, write) time
//! `run_files` into a temp file `REPEATS` times (`RAYON_NUM_THREADS` sets the
//! threads, `CHUNK` the block bytes); `stream` times the one-pass locate +
//! decode + normalise of every line, in memory, on one thread (the best of
//! `REPEATS` passes); `scan` the same per line (the best of `REPEATS` per line,
//! so other load on the machine barely shows, but with warm caches and branch
//! predictors); `check` asserts that it equals decode-then-normalise on every
//! line of `FILE`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use tunesmith_core::io::{locate_normalized_text, parse_record, TextFields};
use tunesmith_core::pipeline::{Outputs, Pipeline, PipelineConfig};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(input) = args.get(1).map(PathBuf::from) else {
        eprintln!("usage: clean_file FILE [exact|default|none|stream|scan|check] [REPEATS]");
        std::process::exit(2);
    };
    let mode = args.get(2).map_or("exact", String::as_str);
    let repeats: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(5);
    match mode {
        "scan" => scan(&input, repeats),
        "stream" => stream(&input, repeats),
        "check" => check(&input),
        _ => run(&input, mode, repeats),
    }
}

fn run(input: &Path, mode: &str, repeats: usize) {
    for k in 0..repeats {
        let mut cfg = match mode {
            "default" => PipelineConfig::default(),
            _ => PipelineConfig {
                length: None,
                seed_length: None,
                seed_checks: false,
                gopher_quality: None,
                gopher_repetition: None,
                pii: None,
                near_dedup: if mode == "near" { PipelineConfig::default().near_dedup } else { None },
                exact_dedup: mode == "exact",
                ..PipelineConfig::default()
            },
        };
        if let Some(c) = std::env::var("CHUNK").ok().and_then(|c| c.parse().ok()) {
            cfg.chunk_bytes = c;
        }
        let out = std::env::temp_dir().join(format!(
            "clean_file_example-{}-{k}.jsonl",
            std::process::id()
        ));
        let t = Instant::now();
        let mut p = Pipeline::new(cfg).unwrap();
        let outputs = Outputs {
            kept: Some(out.clone()),
            ..Outputs::default()
        };
        let r = p
            .run_files(&[input.to_path_buf()], &outputs, &mut |_| Ok(()))
            .unwrap();
        let dt = t.elapsed().as_secs_f64();
        println!(
            "{mode}: {:.1} ms  {:.0} MB/s  kept {} of {}",
            dt * 1e3,
            r.bytes_read as f64 / dt / 1e6,
            r.kept,
            r.read
        );
        let _ = std::fs::remove_file(&out);
    }
}

fn scan(input: &Path, repeats: usize) {
    let data = std::fs::read_to_string(input).unwrap();
    let spec = TextFields::default();
    let mut buf = String::new();
    let mut total = 0f64;
    for line in data.lines() {
        let mut best = f64::MAX;
        for _ in 0..repeats.max(1) {
            let t = Instant::now();
            std::hint::black_box(locate_normalized_text(
                std::hint::black_box(line),
                &spec,
                &mut buf,
            ));
            best = best.min(t.elapsed().as_secs_f64());
        }
        total += best;
    }
    println!(
        "scan: {:.2} ms  {:.0} MB/s",
        total * 1e3,
        data.len() as f64 / total / 1e6
    );
}

/// Locate + decode + normalise every line once per pass, in memory, on one
/// thread; the fastest of `repeats` passes.
fn stream(input: &Path, repeats: usize) {
    let data = std::fs::read_to_string(input).unwrap();
    let lines: Vec<&str> = data.lines().collect();
    let spec = TextFields::default();
    let mut buf = String::new();
    let mut best = f64::MAX;
    for _ in 0..repeats.max(1) {
        let t = Instant::now();
        for line in &lines {
            std::hint::black_box(locate_normalized_text(line, &spec, &mut buf));
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!(
        "stream: {:.2} ms  {:.0} MB/s",
        best * 1e3,
        data.len() as f64 / best / 1e6
    );
}

fn check(input: &Path) {
    let data = std::fs::read_to_string(input).unwrap();
    let spec = TextFields::default();
    let mut buf = String::new();
    for (n, line) in data.lines().enumerate() {
        let got = locate_normalized_text(line, &spec, &mut buf).map(|_| buf.clone());
        let want = parse_record(line, &spec)
            .ok()
            .map(|r| tunesmith_core::text::normalize(&r.fields[0].value).into_owned());
        if got != want {
            let (g, w) = (got.unwrap_or_default(), want.unwrap_or_default());
            let at = g
                .bytes()
                .zip(w.bytes())
                .position(|(a, b)| a != b)
                .unwrap_or(g.len().min(w.len()));
            let lo = at.saturating_sub(60);
            let show = |s: &str| s.get(lo..(at + 60).min(s.len())).unwrap_or("?").to_string();
            panic!(
                "line {}: differs at {at} (got {} bytes, want {})\n got: {:?}\nwant: {:?}",
                n + 1,
                g.len(),
                w.len(),
                show(&g),
                show(&w)
            );
        }
    }
    println!("{} lines agree", data.lines().count());
}

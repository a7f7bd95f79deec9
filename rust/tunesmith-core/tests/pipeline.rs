//! Properties of the streaming clean pass: every line is accounted for, and the
//! output bytes do not depend on the thread count.

use std::path::{Path, PathBuf};

use proptest::prelude::*;
use tunesmith_core::pipeline::{Outputs, Pipeline, PipelineConfig, Report};

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tunesmith-pipeline-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// One corpus line: documents, duplicates, PII, and every kind of broken line.
fn line_strategy() -> impl Strategy<Value = Vec<u8>> {
    let words = prop::collection::vec("[a-z]{1,8}", 0..80).prop_map(|w| w.join(" "));
    prop_oneof![
        4 => words.clone().prop_map(|t| serde_json::json!({"text": t}).to_string().into_bytes()),
        1 => (0u8..4).prop_map(|i| serde_json::json!({"text": format!("the same document number {i} repeated with enough words to pass")}).to_string().into_bytes()),
        1 => words.clone().prop_map(|t| serde_json::json!({"text": format!("{t} contact bob@example.org now"), "id": 7}).to_string().into_bytes()),
        1 => (words.clone(), words).prop_map(|(i, o)| serde_json::json!({"instruction": i, "output": o}).to_string().into_bytes()),
        1 => Just(b"{\"text\": ".to_vec()),
        1 => Just(b"{\"text\": 5}".to_vec()),
        1 => Just(b"{\"id\": 1}".to_vec()),
        1 => Just(Vec::new()),
        1 => Just(b"{\"text\": \"caf\xc3\"}".to_vec()),
        1 => Just(b"[1, 2]".to_vec()),
    ]
}

fn write_corpus(path: &Path, lines: &[Vec<u8>]) {
    let mut bytes = Vec::new();
    for l in lines {
        bytes.extend_from_slice(l);
        bytes.push(b'\n');
    }
    std::fs::write(path, bytes).unwrap();
}

fn run(config: PipelineConfig, input: &Path, tag: &str, threads: usize) -> (Report, Vec<u8>, Vec<u8>, Vec<u8>) {
    let outputs = Outputs {
        kept: Some(tmp(&format!("{tag}-kept.jsonl"))),
        removed: Some(tmp(&format!("{tag}-removed.jsonl"))),
        rejected: Some(tmp(&format!("{tag}-rejected.jsonl"))),
    };
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    let report = pool.install(|| {
        let mut p = Pipeline::new(config).unwrap();
        p.run_files(&[input.to_path_buf()], &outputs, &mut |_| Ok(())).unwrap()
    });
    let read = |p: &Option<PathBuf>| std::fs::read(p.as_ref().unwrap()).unwrap();
    (report, read(&outputs.kept), read(&outputs.removed), read(&outputs.rejected))
}

fn small_chunks() -> PipelineConfig {
    PipelineConfig {
        chunk_bytes: 512,
        ..PipelineConfig::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn every_line_is_accounted_for(lines in prop::collection::vec(line_strategy(), 0..120)) {
        let input = tmp("acc-in.jsonl");
        write_corpus(&input, &lines);
        let (report, kept, removed, rejected) = run(small_chunks(), &input, "acc", 2);
        prop_assert_eq!(report.read, lines.len() as u64);
        prop_assert!(report.balanced());
        let count = |b: &[u8]| b.iter().filter(|&&c| c == b'\n').count() as u64;
        prop_assert_eq!(count(&kept), report.kept);
        prop_assert_eq!(count(&removed), report.removed);
        prop_assert_eq!(count(&rejected), report.rejected);
        prop_assert_eq!(report.removed_by_reason.values().sum::<u64>(), report.removed);
    }

    #[test]
    fn output_is_the_same_for_any_thread_count(lines in prop::collection::vec(line_strategy(), 0..120)) {
        let input = tmp("det-in.jsonl");
        write_corpus(&input, &lines);
        let (r1, k1, m1, j1) = run(small_chunks(), &input, "det1", 1);
        let (r4, k4, m4, j4) = run(small_chunks(), &input, "det4", 4);
        prop_assert_eq!(k1, k4);
        prop_assert_eq!(m1, m4);
        prop_assert_eq!(j1, j4);
        prop_assert_eq!(r1.removed_by_reason, r4.removed_by_reason);
    }
}

#[test]
fn empty_file_and_missing_trailing_newline() {
    let input = tmp("empty.jsonl");
    std::fs::write(&input, b"").unwrap();
    let (report, kept, _, _) = run(PipelineConfig::default(), &input, "empty", 2);
    assert_eq!(report.read, 0);
    assert!(kept.is_empty());
    let input = tmp("no-newline.jsonl");
    std::fs::write(&input, b"{\"text\": \"one\"}\n{\"text\": \"two\"}").unwrap();
    let (report, _, _, _) = run(PipelineConfig::default(), &input, "nonl", 2);
    assert_eq!(report.read, 2);
}

#[test]
fn large_single_line_is_kept_or_removed_not_lost() {
    let input = tmp("big.jsonl");
    let text: String = (0..2_000_000).map(|i| format!("w{} ", i % 50_000)).collect();
    write_corpus(&input, &[serde_json::json!({"text": text}).to_string().into_bytes()]);
    let (report, _, _, _) = run(PipelineConfig::default(), &input, "big", 2);
    assert_eq!(report.read, 1);
    assert!(report.balanced());
}

#[test]
fn pii_is_redacted_in_place_and_other_fields_pass_through() {
    let input = tmp("pii.jsonl");
    let doc = "Please write to jane.doe@example.com about the report, which the team will have to review with care and then send back to all of the people that asked for it.";
    write_corpus(&input, &[format!(r#"{{"id": "a1", "text": {}, "meta": {{"n": [1, 2.5]}}}}"#, serde_json::to_string(doc).unwrap()).into_bytes()]);
    let config = PipelineConfig { gopher_quality: None, gopher_repetition: None, ..PipelineConfig::default() };
    let (report, kept, _, _) = run(config, &input, "pii", 2);
    assert_eq!(report.kept, 1);
    let kept = String::from_utf8(kept).unwrap();
    assert!(kept.contains("[EMAIL]") && !kept.contains("jane.doe"));
    assert!(kept.starts_with(r#"{"id": "a1", "text": "#) && kept.ends_with("\"meta\": {\"n\": [1, 2.5]}}\n"));
    assert_eq!(report.pii_by_kind.get("EMAIL"), Some(&1));
}

#[test]
fn gzip_and_zstd_inputs_read_like_plain() {
    let lines: Vec<Vec<u8>> = (0..50).map(|i| serde_json::json!({"text": format!("document {i} has a few words in it")}).to_string().into_bytes()).collect();
    let plain = tmp("in.jsonl");
    write_corpus(&plain, &lines);
    let raw = std::fs::read(&plain).unwrap();
    let gz = tmp("in.jsonl.gz");
    {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), flate2::Compression::default());
        e.write_all(&raw).unwrap();
        e.finish().unwrap();
    }
    let zst = tmp("in.jsonl.zst");
    std::fs::write(&zst, zstd::encode_all(&raw[..], 3).unwrap()).unwrap();
    let config = PipelineConfig { gopher_quality: None, gopher_repetition: None, ..PipelineConfig::default() };
    let (_, k0, _, _) = run(config.clone(), &plain, "c0", 2);
    let (_, k1, _, _) = run(config.clone(), &gz, "c1", 2);
    let (_, k2, _, _) = run(config, &zst, "c2", 2);
    assert_eq!(k0, k1);
    assert_eq!(k0, k2);
}

fn doc(i: usize) -> Vec<u8> {
    serde_json::json!({"text": format!("document {i} has a few words in it, the river and the sea")}).to_string().into_bytes()
}

#[test]
fn strict_error_in_a_later_block_of_a_later_file_leaves_no_output() {
    let first = tmp("strict-a.jsonl");
    let second = tmp("strict-b.jsonl");
    write_corpus(&first, &(0..200).map(doc).collect::<Vec<_>>());
    let mut lines: Vec<Vec<u8>> = (200..400).map(doc).collect();
    lines[150] = b"{\"text\": ".to_vec();
    write_corpus(&second, &lines);
    let kept = tmp("strict-kept.jsonl");
    let outputs = Outputs { kept: Some(kept.clone()), removed: Some(tmp("strict-removed.jsonl")), rejected: None };
    let config = PipelineConfig { strict: true, gopher_quality: None, gopher_repetition: None, ..small_chunks() };
    let err = Pipeline::new(config).unwrap().run_files(&[first, second.clone()], &outputs, &mut |_| Ok(())).unwrap_err();
    let message = err.to_string();
    assert!(message.contains(&second.display().to_string()) && message.contains("151"), "{message}");
    assert!(!kept.exists() && !tmp("strict-removed.jsonl").exists());
    let dir = kept.parent().unwrap();
    let temps: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().filter(|e| e.file_name().to_string_lossy().contains("strict-kept")).collect();
    assert!(temps.is_empty(), "temp files left: {temps:?}");
}

#[test]
fn progress_counts_grow_to_the_final_report() {
    let input = tmp("progress.jsonl");
    write_corpus(&input, &(0..300).map(|i| doc(i % 250)).collect::<Vec<_>>());
    let mut seen: Vec<u64> = Vec::new();
    let config = PipelineConfig { gopher_quality: None, gopher_repetition: None, ..small_chunks() };
    let report = Pipeline::new(config)
        .unwrap()
        .run_files(&[input], &Outputs::default(), &mut |r| {
            seen.push(r.read);
            Ok(())
        })
        .unwrap();
    assert!(seen.len() > 10, "one call per block: {}", seen.len());
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    assert_eq!(seen.last(), Some(&report.read));
    assert_eq!((report.read, report.removed_by_reason.get("exact_duplicate")), (300, Some(&50)));
}

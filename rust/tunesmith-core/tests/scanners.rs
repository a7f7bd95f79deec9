//! Golden cases and properties of the per-document scanners: normalisation,
//! PII scan/redact, Gopher repetition and quality, seed checks.

use proptest::prelude::*;
use tunesmith_core::pii::{redact, scan, PiiKind, RedactMode};
use tunesmith_core::quality::gopher::{quality_verdict, GopherQualityConfig};
use tunesmith_core::quality::repetition::{repetition_stats, repetition_verdict, RepetitionThresholds};
use tunesmith_core::quality::validator::{seed_quality_ok, validate_fields};
use tunesmith_core::text::{normalize, words};

fn kinds(text: &str) -> Vec<(PiiKind, String)> {
    scan(text).into_iter().map(|s| (s.kind, s.text)).collect()
}

#[test]
fn finds_every_kind() {
    let cases: &[(&str, PiiKind, &str)] = &[
        ("mail jane.doe+x@mail.example.co.uk today", PiiKind::Email, "jane.doe+x@mail.example.co.uk"),
        ("call (415) 555-2671 now", PiiKind::Phone, "(415) 555-2671"),
        ("call 415.555.2671x123 now", PiiKind::Phone, "415.555.2671x123"),
        ("Tel. +44(0)115 4960914", PiiKind::Phone, "+44(0)115 4960914"),
        ("mobile +33 1 83 41 77 76", PiiKind::Phone, "+33 1 83 41 77 76"),
        ("fax: (0161) 4960066", PiiKind::Phone, "(0161) 4960066"),
        ("Phone: 5913417776", PiiKind::Phone, "5913417776"),
        ("SSN: 123-45-6789.", PiiKind::Ssn, "123-45-6789"),
        ("card 4111 1111 1111 1111 ok", PiiKind::CreditCard, "4111 1111 1111 1111"),
        ("amex 3782-822463-10005", PiiKind::CreditCard, "3782-822463-10005"),
        ("host 8.8.4.40:53", PiiKind::Ipv4, "8.8.4.40"),
        ("peer 2001:db8:85a3::8a2e:370:7334 up", PiiKind::Ipv6, "2001:db8:85a3::8a2e:370:7334"),
        ("IBAN: GB82 WEST 1234 5698 7654 32", PiiKind::Iban, "GB82 WEST 1234 5698 7654 32"),
        ("key AKIAIOSFODNN7EXAMPLE", PiiKind::AwsAccessKey, "AKIAIOSFODNN7EXAMPLE"),
        (
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            PiiKind::AwsSecretKey,
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        ),
        (
            "GITHUB_TOKEN=ghp_0123456789abcdefghijABCDEFGHIJ012345",
            PiiKind::GithubToken,
            "ghp_0123456789abcdefghijABCDEFGHIJ012345",
        ),
        ("token glpat-abcdefghij0123456789", PiiKind::GitlabToken, "glpat-abcdefghij0123456789"),
        ("xoxb-1234567890-abcdefghij", PiiKind::SlackToken, "xoxb-1234567890-abcdefghij"),
        ("password=hunter2x9!", PiiKind::Secret, "hunter2x9!"),
        ("clone https://bob:s3cret@git.example.com/r", PiiKind::UrlCredentials, "bob:s3cret"),
        (
            "t eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            PiiKind::Jwt,
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        ),
    ];
    for (text, kind, value) in cases {
        assert_eq!(kinds(text), vec![(*kind, (*value).to_string())], "in {text:?}");
    }
    let block = "x\n-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nAAAA\n-----END RSA PRIVATE KEY-----\ny";
    assert_eq!(scan(block)[0].kind, PiiKind::PrivateKey);
}

#[test]
fn decoys_do_not_match() {
    for text in [
        "order number 4123456789012345",  // Luhn-invalid
        "part no. 000-12-3456",           // SSN area 000
        "lot 666-12-3456 and 912-34-5678", // areas 666 and 9xx
        "case 123-00-4567 or 123-45-0000", // group 00, serial 0000
        "reference DE89370400440532013001", // bad IBAN checksum
        "see ISBN 978-3-16-148410-0",
        "release 1.2.3 and 10.4.2",
        "on 2023-01-15 at 12:30:45",
        "dated 12/25/2023",
        "INT_MAX is 2147483647",
        "slice x[3::2] and std::vec",
        "id 1700000000 and hash 5913417776",
        "password = get_password()",
    ] {
        assert!(scan(text).is_empty(), "{text:?} -> {:?}", scan(text));
    }
}

#[test]
fn redaction_modes() {
    let text = "Reach me at a@b.io or 123-45-6789.";
    let (out, counts) = redact(text, &RedactMode::Placeholder, None);
    assert_eq!(out, "Reach me at [EMAIL] or [SSN].");
    assert_eq!(counts.get(PiiKind::Email), 1);
    assert_eq!(counts.get(PiiKind::Ssn), 1);
    let (masked, _) = redact(text, &RedactMode::Mask, None);
    assert_eq!(masked, "Reach me at ****** or ***********.");
    let salt = RedactMode::Hash { salt: "s".into() };
    let (h1, _) = redact(text, &salt, None);
    let (h2, _) = redact(text, &salt, None);
    assert_eq!(h1, h2);
    assert!(h1.contains("[EMAIL:") && !h1.contains("a@b.io"));
    let (only_ssn, counts) = redact(text, &RedactMode::Placeholder, Some(&[PiiKind::Ssn]));
    assert_eq!(only_ssn, "Reach me at a@b.io or [SSN].");
    assert_eq!(counts.total(), 1);
}

#[test]
fn char_offsets_are_python_offsets() {
    let text = "héllo wörld 📞 a@b.io";
    let spans = scan(text);
    assert_eq!(spans.len(), 1);
    let chars: Vec<char> = text.chars().collect();
    let s = &spans[0];
    assert_eq!(chars[s.start..s.end].iter().collect::<String>(), "a@b.io");
    assert_eq!(&text[s.byte_start..s.byte_end], "a@b.io");
}

#[test]
fn repetition_golden() {
    let t = RepetitionThresholds::default();
    let prose = "The committee met on Tuesday to discuss the budget. Several members raised concerns about \
        the rising cost of maintenance, and the chair promised a detailed report before the next meeting.";
    assert_eq!(repetition_verdict(&repetition_stats(prose), &t), None);
    let spam = "buy now\n".repeat(20);
    let verdict = repetition_verdict(&repetition_stats(&spam), &t);
    assert!(verdict.is_some_and(|v| v.starts_with("gopher_rep_dup")), "{verdict:?}");
    let s = repetition_stats("a b c d e a b c d e");
    // words a..e then a repeat: the 5-gram "abcde" repeats once (5 chars of 19).
    assert!((s.dup_ngram_char_frac[0] - 5.0 / 19.0).abs() < 1e-12);
    assert!((s.top_ngram_char_frac[0] - 6.0 / 19.0).abs() < 1e-12);
}

#[test]
fn quality_and_seed_checks() {
    let cfg = GopherQualityConfig::default();
    assert_eq!(quality_verdict("hello world", &cfg), Some("gopher_short_doc"));
    let hashes = "#tag #tag and the word with of to ".repeat(20);
    assert_eq!(quality_verdict(&hashes, &cfg), Some("gopher_too_many_hashes"));
    assert_eq!(validate_fields("Explain", "Sure."), vec!["Output too short (< 5 words)"]);
    assert!(seed_quality_ok("The answer is forty-two."));
}

#[test]
fn words_follow_spacy() {
    assert_eq!(words("I can't go."), ["I", "ca", "n't", "go", "."]);
    assert_eq!(words("U.S. and e.g. this"), ["U.S.", "and", "e.g.", "this"]);
    assert_eq!(words("etc."), ["etc", "."]);
    assert_eq!(words("a || b and/or c"), ["a", "||", "b", "and/or", "c"]);
    assert_eq!(words("🔬This"), ["🔬", "This"]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn normalize_is_idempotent(s in "\\PC*|[ \\t\\n\\u{0}-\\u{1f}\\u{7f}-\\u{9f}a-zé\\u{301}\\u{2028}\\u{3000}]{0,40}") {
        let once = normalize(&s).into_owned();
        prop_assert_eq!(normalize(&once).into_owned(), once.clone());
        prop_assert!(!once.starts_with(' ') && !once.ends_with(' ') && !once.contains("  "));
    }

    #[test]
    fn spans_sorted_on_boundaries_and_redaction_removes_them(
        parts in proptest::collection::vec(prop_oneof![
            Just("a@b.io".to_string()),
            Just("123-45-6789".to_string()),
            Just("4111 1111 1111 1111".to_string()),
            Just("call 415-555-2671".to_string()),
            Just("10.1.2.30".to_string()),
            Just("ghp_0123456789abcdefghijABCDEFGHIJ012345".to_string()),
            "\\PC{0,12}",
        ], 0..8)
    ) {
        let text = parts.join(" ");
        let spans = scan(&text);
        let mut prev_end = 0;
        for s in &spans {
            prop_assert!(s.byte_start >= prev_end && s.byte_start < s.byte_end);
            prop_assert!(text.is_char_boundary(s.byte_start) && text.is_char_boundary(s.byte_end));
            prop_assert_eq!(&text[s.byte_start..s.byte_end], s.text.as_str());
            prev_end = s.byte_end;
        }
        let (out, counts) = redact(&text, &RedactMode::Placeholder, None);
        prop_assert_eq!(counts.total() as usize, spans.len());
        let mut kept = String::new();
        let mut pos = 0;
        for s in &spans {
            kept.push_str(&text[pos..s.byte_start]);
            kept.push('\u{0}');
            pos = s.byte_end;
        }
        kept.push_str(&text[pos..]);
        for s in &spans {
            if !kept.contains(s.text.as_str()) {
                prop_assert!(!out.contains(s.text.as_str()), "{:?} left in {:?}", s.text, out);
            }
        }
    }

    #[test]
    fn scanners_never_panic(s in "\\PC{0,200}") {
        let _ = scan(&s);
        let _ = words(&s);
        let _ = repetition_stats(&s);
        let _ = quality_verdict(&s, &GopherQualityConfig::default());
        let _ = validate_fields(&s, &s);
    }
}

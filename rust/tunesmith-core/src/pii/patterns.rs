//! The detectors behind [`super::scan`]. Each runs only when its literal
//! prefilter occurs in the text; the patterns are ASCII-only (`(?-u)` classes)
//! so the regex engine's DFA stays small; boundaries and checksums are checked
//! here in code because the regex crate has no look-around.

use std::str::FromStr;
use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use memchr::memmem;
use regex::bytes::Regex;

use super::triggers::{positions, runs, Triggers};
use super::validators::{card_ok, iban_length, iban_ok, ssn_ok};
use super::{Candidate, PiiKind};

fn re(pattern: &str) -> Regex {
    // The patterns are constants checked by the unit tests, so this cannot fail at run time.
    Regex::new(pattern).unwrap_or_else(|e| panic!("invalid built-in pattern {pattern}: {e}"))
}

static PHONE_NANP: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?-u)(?:(?:\+1|001|1)[-. ]?)?(?:\([2-9][0-9]{2}\) ?|[2-9][0-9]{2}[-. ]?)[2-9][0-9]{2}[-. ]?[0-9]{4}(?: ?(?:x|ext\.?|#) ?[0-9]{1,5})?")
});
static PHONE_INTL: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?-u)\+[1-9][0-9]{0,2}(?: ?\(0\))?(?:[ .-]?\(?[0-9]{1,6}\)?){1,6}(?: ?(?:x|ext\.?) ?[0-9]{1,5})?")
});
static PHONE_TRUNK: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?-u)\(0[0-9]{1,4}\) ?[0-9]{3,8}(?: [0-9]{2,4})?|0[0-9](?:[ .][0-9]{2}){4}|0[0-9]{1,4} [0-9]{3,4} [0-9]{3,4}|0[0-9]{3,5} [0-9]{5,8}|0[0-9]{9,10}")
});
static SSN: LazyLock<Regex> = LazyLock::new(|| re(r"(?-u)[0-9]{3}-[0-9]{2}-[0-9]{4}"));
static CARD: LazyLock<Regex> = LazyLock::new(|| re(r"(?-u)[2-6][0-9]{3}(?:[ -]?[0-9]{3,6}){2,4}"));
static IPV4: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?-u)(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}")
});
static IBAN: LazyLock<Regex> = LazyLock::new(|| re(r"(?-u)[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,40}"));
static AWS_ACCESS: LazyLock<Regex> = LazyLock::new(|| re(r"(?-u)(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}"));
static GITHUB: LazyLock<Regex> = LazyLock::new(|| re(r"(?-u)(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{82})"));
static GITLAB: LazyLock<Regex> = LazyLock::new(|| re(r"(?-u)gl(?:pat|dt|rt|ptt|cbt|oas)-[A-Za-z0-9_-]{20,}"));
static SLACK: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?-u)xox[abposre]-[A-Za-z0-9-]{10,}|https://hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]+")
});
static PRIVATE_KEY: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?s-u)-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----.*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")
});
static JWT: LazyLock<Regex> = LazyLock::new(|| re(r"(?-u)eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{10,}"));
static URL_CREDS: LazyLock<Regex> = LazyLock::new(|| {
    re(r"(?-u)[A-Za-z][A-Za-z0-9+.-]{1,15}://([^\s:/@]{1,128}:[^\s/@]{1,128})@[A-Za-z0-9.-]+")
});

/// The literal prefixes of the token patterns, each with the index (in
/// [`secrets`]'s table) of the pattern it starts. AWS's prefixes (pattern 0)
/// are found from the text's `A` marks instead: an automaton holding them
/// too checks far more false candidates and costs about twice as much.
const AWS_PREFIXES: [&[u8; 4]; 10] = [b"AKIA", b"ASIA", b"ABIA", b"ACCA", b"AGPA", b"AIDA", b"AROA", b"ANPA", b"ANVA", b"AIPA"];
const TOKEN_PREFIX_TABLE: [(&str, usize); 16] = [
    ("ghp_", 1), ("gho_", 1), ("ghu_", 1), ("ghs_", 1), ("ghr_", 1), ("github_pat_", 1), ("glpat-", 2), ("gldt-", 2),
    ("glrt-", 2), ("glptt-", 2), ("glcbt-", 2), ("gloas-", 2), ("xox", 3), ("hooks.slack", 3), ("eyJ", 4),
    ("PRIVATE KEY", 5),
];

static TOKEN_PREFIXES: LazyLock<AhoCorasick> = LazyLock::new(|| {
    // Leftmost-first lets the automaton use its packed SIMD (Teddy) prefilter.
    // No prefix of one pattern overlaps a prefix of another pattern's (a
    // suffix of one is never the start of another), so non-overlapping
    // matches still report every pattern that occurs.
    AhoCorasickBuilder::new()
        .match_kind(MatchKind::LeftmostFirst)
        .build(TOKEN_PREFIX_TABLE.map(|(p, _)| p))
        .unwrap_or_else(|e| panic!("invalid built-in automaton: {e}"))
});

/// Some AWS key prefix occurs in `t`; `capital_a` marks its `A` bytes.
fn has_aws_prefix(t: &[u8], capital_a: &[u64]) -> bool {
    positions(capital_a).any(|i| t.get(i..i + 4).is_some_and(|w| t[i + 3] == b'A' && AWS_PREFIXES.iter().any(|p| p[..] == *w)))
}

/// Bit `i` set when a prefix of pattern `i` of [`secrets`]'s table occurs in `t`.
fn token_patterns_present(t: &[u8], capital_a: &[u64]) -> u32 {
    let mut wanted = u32::from(has_aws_prefix(t, capital_a));
    let others = 0b11_1110;
    for m in TOKEN_PREFIXES.find_iter(t) {
        wanted |= 1 << TOKEN_PREFIX_TABLE[m.pattern().as_usize()].1;
        if wanted & others == others {
            break;
        }
    }
    wanted
}

#[inline]
fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// No letter, digit or `_` (nor a non-ASCII character, which may be a letter)
/// right before `start`, and no number continuing through `.`/`-`/`/`.
fn left_ok(t: &[u8], start: usize) -> bool {
    if start == 0 {
        return true;
    }
    let p = t[start - 1];
    if is_word(p) {
        return false;
    }
    if matches!(p, b'.' | b'-' | b'/' | b'+') && start >= 2 && t[start - 2].is_ascii_digit() {
        return false;
    }
    // Part of an identifier or path: `fuzzer-6173...`, `detail/5229...`, `x.1.2.3.4`.
    !(matches!(p, b'-' | b'/' | b'_' | b'.') && start >= 2 && is_word(t[start - 2]))
}

/// Words that announce a phone number within the 24 bytes before it; bare
/// 10- and 11-digit runs are phones only with one of them (otherwise they are
/// ids, hashes and constants far more often).
fn phone_context(t: &[u8], start: usize) -> bool {
    static WORDS: LazyLock<AhoCorasick> = LazyLock::new(|| {
        AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .build(["phone", "tel", "call", "mobile", "cell", "fax", "sms", "contact", "whatsapp", "dial", "number", "ph."])
            .unwrap_or_else(|e| panic!("invalid built-in automaton: {e}"))
    });
    WORDS.is_match(&t[start.saturating_sub(24)..start])
}

/// Nothing word-like right after `end`, and no number continuing through
/// `.`/`-`/`/` (or `:` unless `port_ok`).
fn right_ok(t: &[u8], end: usize, port_ok: bool) -> bool {
    let Some(&n) = t.get(end) else { return true };
    if is_word(n) {
        return false;
    }
    let continues = t.get(end + 1).is_some_and(u8::is_ascii_digit);
    if continues && (matches!(n, b'.' | b'-' | b'/') || (n == b':' && !port_ok)) {
        return false;
    }
    true
}

fn digits(s: &[u8]) -> usize {
    s.iter().filter(|b| b.is_ascii_digit()).count()
}

/// Well-known constants that look like North American numbers.
const NOT_PHONES: &[&[u8]] = &[b"2147483647", b"2147483648", b"4294967295", b"4294967296", b"9223372036"];

/// All matches of `pattern` whose boundaries pass, retrying one byte later
/// when a match fails (so a bad leftmost match cannot hide a good one).
fn each_match(t: &[u8], windows: &[(usize, usize)], pattern: &Regex, mut accept: impl FnMut(usize, usize)) {
    for &(start, end) in windows {
        each_match_in(&t[..end], start, pattern, &mut accept);
    }
}

fn each_match_in(t: &[u8], start: usize, pattern: &Regex, accept: &mut impl FnMut(usize, usize)) {
    let mut at = start;
    while at < t.len() {
        let Some(m) = pattern.find_at(t, at) else { break };
        accept(m.start(), m.end());
        at = if m.end() > m.start() { m.start() + 1 } else { m.end() + 1 };
        // Skip to the next candidate start after a digit run begins, so a long
        // number is not re-matched from each of its bytes.
        while at < t.len() && at < m.end() && (t[at].is_ascii_alphanumeric()) && t[at - 1].is_ascii_alphanumeric() {
            at += 1;
        }
    }
}

fn push(out: &mut Vec<Candidate>, kind: PiiKind, start: usize, end: usize) {
    out.push(Candidate { kind, start, end });
}

/// A range of text around digit clusters (see [`digit_and_iban_windows`]),
/// with what the numeric patterns need to find there: a pattern runs only in
/// the windows that can hold one of its matches.
#[derive(Debug, Clone, Copy)]
struct NumWindow {
    start: usize,
    end: usize,
    /// Digits of the largest cluster. A match's digits never span clusters
    /// (its separators are cluster separators), so a pattern needing `n`
    /// digits skips windows whose largest cluster has fewer.
    max_cluster: usize,
    has_dash: bool,
    has_dot: bool,
    has_plus: bool,
}

fn select(windows: &[NumWindow], keep: impl Fn(&NumWindow) -> bool) -> Vec<(usize, usize)> {
    windows.iter().filter(|w| keep(w)).map(|w| (w.start, w.end)).collect()
}

fn phones(t: &[u8], windows: &[NumWindow], out: &mut Vec<Candidate>) {
    // NANP numbers have 10 digits and trunk-prefixed ones 10 or 11, in one
    // cluster; international ones start with `+`.
    let ten = select(windows, |w| w.max_cluster >= 10);
    each_match(t, &ten, &PHONE_NANP, |s, e| {
        let m = &t[s..e];
        let bare = m.iter().all(u8::is_ascii_digit);
        if left_ok(t, s) && right_ok(t, e, false) && !NOT_PHONES.contains(&m) && (!bare || phone_context(t, s)) {
            push(out, PiiKind::Phone, s, e);
        }
    });
    each_match(t, &select(windows, |w| w.has_plus), &PHONE_INTL, |s, mut e| {
        while e > s && matches!(t[e - 1], b'(' | b' ' | b'-' | b'.') {
            e -= 1;
        }
        let m = &t[s..e];
        let opens = m.iter().filter(|&&b| b == b'(').count();
        let closes = m.iter().filter(|&&b| b == b')').count();
        let n = digits(m) - usize::from(memmem::find(m, b"(0)").is_some());
        if opens == closes && (8..=15).contains(&n) && left_ok(t, s) && right_ok(t, e, false) {
            push(out, PiiKind::Phone, s, e);
        }
    });
    each_match(t, &ten, &PHONE_TRUNK, |s, e| {
        let m = &t[s..e];
        let bare = m.iter().all(u8::is_ascii_digit);
        if (10..=11).contains(&digits(m)) && left_ok(t, s) && right_ok(t, e, false) && (!bare || phone_context(t, s)) {
            push(out, PiiKind::Phone, s, e);
        }
    });
}

fn ssns(t: &[u8], windows: &[NumWindow], out: &mut Vec<Candidate>) {
    each_match(t, &select(windows, |w| w.max_cluster >= 9 && w.has_dash), &SSN, |s, e| {
        let m = &t[s..e];
        let field = |a: usize, b: usize| std::str::from_utf8(&m[a..b]).unwrap_or("0");
        if left_ok(t, s) && right_ok(t, e, false) && ssn_ok(field(0, 3), field(4, 6), field(7, 11)) {
            push(out, PiiKind::Ssn, s, e);
        }
    });
}

fn cards(t: &[u8], windows: &[NumWindow], out: &mut Vec<Candidate>) {
    // `card_ok` accepts 13 to 19 digits.
    each_match(t, &select(windows, |w| w.max_cluster >= 13), &CARD, |s, e| {
        if !left_ok(t, s) {
            return;
        }
        // The greedy match may have taken a following number: try shorter
        // prefixes that end at a group boundary, longest first.
        let mut end = e;
        loop {
            let m = std::str::from_utf8(&t[s..end]).unwrap_or("");
            if right_ok(t, end, false) && card_ok(m) {
                push(out, PiiKind::CreditCard, s, end);
                return;
            }
            match t[s..end].iter().rposition(|&b| b == b' ' || b == b'-') {
                Some(p) if p > 0 => end = s + p,
                _ => return,
            }
        }
    });
}

fn ipv4s(t: &[u8], windows: &[NumWindow], out: &mut Vec<Candidate>) {
    each_match(t, &select(windows, |w| w.has_dot), &IPV4, |s, e| {
        // Four single-digit parts (`1.2.3.4`, `5.5.3.2`) are section and
        // version numbers far more often than hosts.
        let dotted_digits = e - s == 7;
        if left_ok(t, s) && right_ok(t, e, true) && !dotted_digits {
            push(out, PiiKind::Ipv4, s, e);
        }
    });
}

fn ibans(t: &[u8], windows: &[(usize, usize)], out: &mut Vec<Candidate>) {
    each_match(t, windows, &IBAN, |s, e| {
        if !left_ok(t, s) {
            return;
        }
        let Some(len) = iban_length(&t[s..s + 2]) else { return };
        let mut compact = Vec::with_capacity(len);
        let mut end = s;
        for (i, &b) in t[s..e].iter().enumerate() {
            if b == b' ' {
                // Spaces only between groups of four.
                if compact.len() % 4 != 0 {
                    return;
                }
                continue;
            }
            compact.push(b);
            end = s + i + 1;
            if compact.len() == len {
                break;
            }
        }
        if compact.len() == len && right_ok(t, end, false) && iban_ok(&compact) {
            push(out, PiiKind::Iban, s, end);
        }
    });
}

#[inline]
fn is_v6(b: u8) -> bool {
    b.is_ascii_hexdigit() || b == b':' || b == b'.'
}

fn ipv6s(text: &str, colon_or_equals: &[u64], out: &mut Vec<Candidate>) {
    let t = text.as_bytes();
    let mut next = 0usize;
    for colon in positions(colon_or_equals) {
        // This is the first `:` of its run of address bytes (the run of an
        // earlier one reaches `next`), so an address needs another right after.
        if colon < next || t[colon] != b':' || !t.get(colon + 1).is_some_and(|&b| is_v6(b)) {
            continue;
        }
        next = ipv6_around(text, colon, out);
    }
}

/// The IPv6 address in the run of address bytes around `colon`, if any.
/// Returns where the run ends: the next `:` worth looking at is past it.
fn ipv6_around(text: &str, colon: usize, out: &mut Vec<Candidate>) -> usize {
    let t = text.as_bytes();
    let mut s = colon;
    while s > 0 && is_v6(t[s - 1]) {
        s -= 1;
    }
    let mut e = colon;
    while e < t.len() && is_v6(t[e]) {
        e += 1;
    }
    let next = e.max(colon + 1);
    while s < colon && matches!(t[s], b'.') {
        s += 1;
    }
    while e > colon + 1 && matches!(t[e - 1], b'.' | b':') && !t[..e].ends_with(b"::") {
        e -= 1;
    }
    if s > 0 && is_word(t[s - 1]) || t.get(e).is_some_and(|&b| is_word(b) || b == b'%') && t.get(e) != Some(&b'%') {
        return next;
    }
    let cand = &text[s..e];
    if cand.bytes().filter(|&b| b == b':').count() < 2 {
        return next;
    }
    if std::net::Ipv6Addr::from_str(cand).is_err() {
        return next;
    }
    // Two short groups (`3::2`, `a::b`) are slices and paths in code.
    let groups = cand.split(':').filter(|g| !g.is_empty()).count();
    let long_group = cand.split(':').any(|g| g.len() >= 3);
    if groups >= 3 || (groups == 2 && long_group) || cand == "::1" {
        push(out, PiiKind::Ipv6, s, e);
    }
    next
}

fn emails(text: &str, out: &mut Vec<Candidate>) {
    let t = text.as_bytes();
    let local = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-');
    let domain = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-');
    let mut last_end = 0usize;
    for at in memchr::memchr_iter(b'@', t) {
        if at < last_end {
            continue;
        }
        let mut s = at;
        while s > last_end && local(t[s - 1]) {
            s -= 1;
        }
        while s < at && t[s] == b'.' {
            s += 1;
        }
        if s == at || (s > 0 && t[s - 1] >= 0x80) {
            continue;
        }
        let mut e = at + 1;
        while e < t.len() && domain(t[e]) {
            e += 1;
        }
        while e > at + 1 && matches!(t[e - 1], b'.' | b'-') {
            e -= 1;
        }
        if t.get(e).is_some_and(|&b| b >= 0x80 || b == b'_') {
            continue;
        }
        let dom = &text[at + 1..e];
        let Some(dot) = dom.rfind('.') else { continue };
        let tld = &dom[dot + 1..];
        let labels_ok = dom.split('.').all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'));
        if tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic()) && labels_ok {
            push(out, PiiKind::Email, s, e);
            last_end = e;
        }
    }
}

/// Identifier endings that name a secret (compared lowercased, an optional
/// plural `s` removed).
const SECRET_KEYS: &[&[u8]] = &[
    b"password", b"passwd", b"pwd", b"secret", b"api_key", b"api-key", b"apikey", b"token", b"access_key",
    b"access-key", b"accesskey", b"auth_key", b"auth-key", b"authkey", b"credential",
];

/// The last two letters of every name in [`SECRET_KEYS`], lowercase.
const SECRET_KEY_ENDINGS: [[u8; 2]; 6] = [*b"rd", *b"wd", *b"et", *b"ey", *b"en", *b"al"];

#[inline]
fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
}

/// `key = value`, `key: value` and `key => value` where the key (an
/// identifier, optionally quoted) ends in a secret's name: the value is a
/// SECRET, or an AWS_SECRET_KEY when the key is AWS's secret-key name and the
/// value is 40 base64 characters. Found from the `=`/`:` bytes outward, which
/// is much cheaper than a case-insensitive keyword search over all text.
fn assignments(t: &[u8], colon_or_equals: &[u64], out: &mut Vec<Candidate>) {
    for op in positions(colon_or_equals) {
        if key_may_name_secret(t, op) {
            assignment_at(t, op, out);
        }
    }
}

/// Where the key of an assignment at `op` ends: before the spaces and the
/// one quote that may stand between it and the operator.
fn key_end_before(t: &[u8], op: usize) -> usize {
    let mut k = op;
    while k > 0 && matches!(t[k - 1], b' ' | b'\t') {
        k -= 1;
    }
    if k > 0 && matches!(t[k - 1], b'"' | b'\'') {
        k -= 1;
    }
    k
}

/// A necessary condition for [`assignment_at`] to find anything at `op`,
/// checked in a few instructions: the bytes before it end like a name in
/// [`SECRET_KEYS`] (or its plural). Most `=`/`:` fail it.
fn key_may_name_secret(t: &[u8], op: usize) -> bool {
    let k = key_end_before(t, op);
    let ends_like_secret = |end: usize| {
        end >= 2 && SECRET_KEY_ENDINGS.contains(&[t[end - 2].to_ascii_lowercase(), t[end - 1].to_ascii_lowercase()])
    };
    ends_like_secret(k) || (k >= 1 && t[k - 1].eq_ignore_ascii_case(&b's') && ends_like_secret(k - 1))
}

/// The assignment whose operator (`=` or `:`) is at `op`, if its key names
/// a secret and its value looks like one.
fn assignment_at(t: &[u8], op: usize, out: &mut Vec<Candidate>) {
    let prev = op.checked_sub(1).map(|p| t[p]);
    let next = t.get(op + 1).copied();
    let skip = match t[op] {
        b'=' => next == Some(b'=') || matches!(prev, Some(b'=' | b'!' | b'<' | b'>' | b':')),
        _ => next == Some(b':') || prev == Some(b':') || next == Some(b'='),
    };
    if skip {
        return;
    }
    let key_end = key_end_before(t, op);
    let key_start = t[..key_end].iter().rposition(|&b| !is_key_byte(b)).map_or(0, |p| p + 1);
    if key_start == key_end {
        return;
    }
    // Compared in place, case-insensitively: no lowercased copy per `=`/`:`.
    let names_secret = |key: &[u8]| {
        SECRET_KEYS.iter().any(|w| key.len() >= w.len() && key[key.len() - w.len()..].eq_ignore_ascii_case(w))
    };
    let mut key: &[u8] = &t[key_start..key_end];
    if !names_secret(key) {
        if key.last().is_some_and(|b| b.eq_ignore_ascii_case(&b's')) {
            key = &key[..key.len() - 1];
        }
        if !names_secret(key) {
            return;
        }
    }
    let mut v = op + 1 + usize::from(t[op] == b'=' && next == Some(b'>'));
    while v < t.len() && matches!(t[v], b' ' | b'\t') {
        v += 1;
    }
    if v < t.len() && matches!(t[v], b'"' | b'\'') {
        v += 1;
    }
    if squashed_ends_with(key, b"awssecretaccesskey") || squashed_ends_with(key, b"awssecretkey") {
        let base64 = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'+');
        if t.len() >= v + 40 && t[v..v + 40].iter().all(base64) && !t.get(v + 40).is_some_and(base64) && right_ok(t, v + 40, true) {
            push(out, PiiKind::AwsSecretKey, v, v + 40);
            return;
        }
    }
    let stop = |b: &u8| b.is_ascii_whitespace() || b"\"'`,;<>(){}[]".contains(b);
    let len = t[v..].iter().take(201).take_while(|b| !stop(b)).count();
    if !(6..=200).contains(&len) {
        return;
    }
    let g_end = v + len;
    let call = matches!(t.get(g_end), Some(b'(' | b'['));
    let arn = key_start > 0 && t[key_start - 1] == b':';
    if (left_ok(t, key_start) || t[key_start - 1] == b'.') && !call && !arn {
        let mut end = g_end;
        while end > v && matches!(t[end - 1], b'.' | b':') {
            end -= 1;
        }
        if plausible_secret(&t[v..end]) {
            push(out, PiiKind::Secret, v, end);
        }
    }
}

/// `key` with its `_` removed ends with `suffix` (lowercase), ignoring ASCII case.
fn squashed_ends_with(key: &[u8], suffix: &[u8]) -> bool {
    let mut rest = key.iter().rev().filter(|&&b| b != b'_');
    suffix.iter().rev().all(|&s| rest.next().is_some_and(|b| b.to_ascii_lowercase() == s))
}

/// Values of `key = value` assignments that are code, not secrets.
fn plausible_secret(v: &[u8]) -> bool {
    const PLACEHOLDERS: &[&[u8]] = &[b"none", b"null", b"true", b"false", b"undefined", b"changeme", b"required", b"optional", b"string", b"example"];
    if v.len() < 6 || v.iter().all(|&b| b == b'*' || b == b'x' || b == b'X') {
        return false;
    }
    if PLACEHOLDERS.iter().any(|p| v.eq_ignore_ascii_case(p)) {
        return false;
    }
    if matches!(v[0], b'$' | b'%' | b'&' | b'@' | b'#' | b'.' | b'/' | b'\\' | b'!' | b'=' | b'-' | b':') {
        return false;
    }
    // Environment-variable names (`OAUTH2_CLIENT_SECRET`), resource paths, globs.
    let env_name = v.iter().all(|&b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_') && v.contains(&b'_');
    if env_name || v.iter().filter(|&&b| b == b'/').count() >= 2 || v.ends_with(b"*") {
        return false;
    }
    let has_digit = v.iter().any(u8::is_ascii_digit);
    let has_alpha = v.iter().any(u8::is_ascii_alphabetic);
    let identifier = v.iter().all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    // An identifier or dotted path without digits is a variable, not a secret.
    (!identifier || has_digit) && has_alpha
}

fn secrets(text: &str, marks: &Triggers, has_at: bool, out: &mut Vec<Candidate>) {
    let t = text.as_bytes();
    let simple: [(&Regex, PiiKind); 6] = [
        (&AWS_ACCESS, PiiKind::AwsAccessKey),
        (&GITHUB, PiiKind::GithubToken),
        (&GITLAB, PiiKind::GitlabToken),
        (&SLACK, PiiKind::SlackToken),
        (&JWT, PiiKind::Jwt),
        (&PRIVATE_KEY, PiiKind::PrivateKey),
    ];
    // The prefix automata say which patterns can match at all; only those
    // then scan the text (each with its own literal prefilter).
    let wanted = token_patterns_present(t, &marks.capital_a);
    for (i, (pattern, kind)) in simple.into_iter().enumerate() {
        if wanted & (1 << i) == 0 {
            continue;
        }
        for m in pattern.find_iter(t) {
            let whole_block = kind == PiiKind::PrivateKey;
            if whole_block || (left_ok(t, m.start()) && right_ok(t, m.end(), true)) {
                push(out, kind, m.start(), m.end());
            }
        }
    }
    if has_at && may_hold_url_credentials(t) {
        for c in URL_CREDS.captures_iter(t) {
            if let Some(g) = c.get(1) {
                push(out, PiiKind::UrlCredentials, g.start(), g.end());
            }
        }
    }
    assignments(t, &marks.colon_or_equals, out);
}

/// Some `://` is followed, within 258 bytes and before any whitespace or `/`,
/// by an `@`: every match of [`URL_CREDS`] has one, so the pattern (run with
/// captures, the regex crate's slowest mode) is skipped for all other texts.
fn may_hold_url_credentials(t: &[u8]) -> bool {
    memmem::find_iter(t, b"://").any(|p| {
        let after = &t[p + 3..(p + 3 + 258).min(t.len())];
        after.iter().take_while(|b| !b.is_ascii_whitespace() && **b != b'/').any(|&b| b == b'@')
    })
}

/// Append every validated candidate of `text` to `out` (overlaps included).
pub(crate) fn collect(text: &str, out: &mut Vec<Candidate>) {
    let t = text.as_bytes();
    let has_at = memchr::memchr(b'@', t).is_some();
    if has_at {
        emails(text, out);
    }
    let marks = Triggers::of(t);
    secrets(text, &marks, has_at, out);
    ipv6s(text, &marks.colon_or_equals, out);
    let (windows, iban_windows) = digit_and_iban_windows(t, &marks.digit);
    if windows.is_empty() {
        return;
    }
    phones(t, &windows, out);
    ssns(t, &windows, out);
    cards(t, &windows, out);
    ipv4s(t, &windows, out);
    ibans(t, &iban_windows, out);
}

/// Fewest digits of any number the numeric detectors accept (`10.0.0.1`).
const MIN_DIGITS: usize = 5;
/// Bytes around a digit cluster that a match may still cover: `+`, `(`,
/// an extension such as ` ext. 12345`.
const WINDOW_MARGIN: usize = 16;

/// Candidate ranges for the digit-driven detectors, from one pass over the
/// text's digit runs:
///
/// * numeric windows: byte ranges around clusters of digits (digits with at
///   most three separator bytes between them) that hold at least
///   [`MIN_DIGITS`] digits. Every phone, SSN, card and IPv4 address lies
///   inside one, so the numeric patterns run only there;
/// * IBAN windows: ranges starting where an IBAN may start, two capitals and
///   two digits after a non-word byte (the two digits begin a digit run).
fn digit_and_iban_windows(t: &[u8], digit_marks: &[u64]) -> (Vec<NumWindow>, Vec<(usize, usize)>) {
    let mut windows: Vec<NumWindow> = Vec::new();
    let mut ibans: Vec<(usize, usize)> = Vec::new();
    let close = |start: usize, end: usize, digits: usize, windows: &mut Vec<NumWindow>| {
        if digits >= MIN_DIGITS {
            let (s, e) = (start.saturating_sub(WINDOW_MARGIN), (end + WINDOW_MARGIN).min(t.len()));
            match windows.last_mut() {
                Some(last) if last.end >= s => {
                    last.end = e;
                    last.max_cluster = last.max_cluster.max(digits);
                }
                _ => windows.push(NumWindow {
                    start: s,
                    end: e,
                    max_cluster: digits,
                    has_dash: false,
                    has_dot: false,
                    has_plus: false,
                }),
            }
        }
    };
    let (mut start, mut last, mut digits) = (0usize, 0usize, 0usize);
    runs(digit_marks, t.len(), |i, e| {
        if e - i >= 2 && i >= 2 && t[i - 1].is_ascii_uppercase() && t[i - 2].is_ascii_uppercase() && (i == 2 || !is_word(t[i - 3])) {
            ibans.push((i - 2, (i + 46).min(t.len())));
        }
        let joined = digits > 0
            && i - last <= 4
            && t[last + 1..i].iter().all(|&b| matches!(b, b' ' | b'-' | b'.' | b'(' | b')' | b'/' | b'x' | b'+' | b'#'));
        if !joined {
            close(start, last + 1, digits, &mut windows);
            start = i;
            digits = 0;
        }
        digits += e - i;
        last = e - 1;
    });
    close(start, last + 1, digits, &mut windows);
    for w in &mut windows {
        for &b in &t[w.start..w.end] {
            w.has_dash |= b == b'-';
            w.has_dot |= b == b'.';
            w.has_plus |= b == b'+';
        }
    }
    (windows, ibans)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_compile() {
        for p in [
            &*PHONE_NANP, &*PHONE_INTL, &*PHONE_TRUNK, &*SSN, &*CARD, &*IPV4, &*IBAN, &*AWS_ACCESS,
            &*GITHUB, &*GITLAB, &*SLACK, &*PRIVATE_KEY, &*JWT, &*URL_CREDS,
        ] {
            assert!(!p.as_str().is_empty());
        }
        let present = |t: &[u8]| token_patterns_present(t, &Triggers::of(t).capital_a);
        assert_eq!(present(b"AKIA ghp_ glrt- xox eyJ PRIVATE KEY"), 0b11_1111);
        assert_eq!(present(b"no tokens here, AREA AKI"), 0);
        assert_eq!(present(b"xANVA"), 1);
    }

    #[test]
    fn secret_key_endings_are_all_listed() {
        for key in SECRET_KEYS {
            assert!(SECRET_KEY_ENDINGS.contains(&[key[key.len() - 2], key[key.len() - 1]]), "{key:?}");
        }
    }

    const ASSIGNMENT_PIECES: &[&str] = &[
        "password", "Passwords", "PWD", "passwd", "api_key", "API-KEY", "apikey", "tokens", "secret", "aws_secret_access_key",
        "credential", "Credentials", "authKey", "name", "=", ":", "=>", "==", "::", " ", "\t", "\"", "'", "hunter2x9!",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "abc123def", "${X}", "x", "s", "1", "\n", "(", ".",
    ];

    proptest::proptest! {
        #[test]
        fn ipv6s_match_trying_every_colon(t in proptest::collection::vec(proptest::sample::select(b"0123abcfx::::..% -=1".to_vec()), 0..40)) {
            let text = String::from_utf8(t).unwrap_or_default();
            let mut fast = Vec::new();
            ipv6s(&text, &Triggers::of(text.as_bytes()).colon_or_equals, &mut fast);
            let mut every = Vec::new();
            let mut next = 0;
            while let Some(p) = memchr::memchr(b':', &text.as_bytes()[next..]) {
                next = ipv6_around(&text, next + p, &mut every);
            }
            proptest::prop_assert_eq!(fast, every);
        }

        #[test]
        fn aws_prefixes_are_found_from_the_a_marks(t in proptest::collection::vec(proptest::sample::select(b"AKSIBCGPDRONV x".to_vec()), 0..40)) {
            let plain = AWS_PREFIXES.iter().any(|p| memmem::find(&t, &p[..]).is_some());
            proptest::prop_assert_eq!(has_aws_prefix(&t, &Triggers::of(&t).capital_a), plain);
        }

        #[test]
        fn assignments_match_trying_every_operator(parts in proptest::collection::vec(proptest::sample::select(ASSIGNMENT_PIECES), 0..12)) {
            let text = parts.concat();
            let t = text.as_bytes();
            let mut fast = Vec::new();
            assignments(t, &Triggers::of(t).colon_or_equals, &mut fast);
            let mut every = Vec::new();
            for op in memchr::memchr2_iter(b'=', b':', t) {
                assignment_at(t, op, &mut every);
            }
            proptest::prop_assert_eq!(fast, every);
        }
    }
}

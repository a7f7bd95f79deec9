//! PII and secret detection and redaction.
//!
//! [`scan`] finds emails, phone numbers (North American and international,
//! including trunk-prefixed national formats), US SSNs (never-issued ranges
//! excluded), payment cards (13-19 digits, Luhn-checked), IPv4 and IPv6
//! addresses, IBANs (mod-97 and country length checked), and secrets (AWS
//! access and secret keys, GitHub/GitLab/Slack tokens, private-key blocks,
//! JWTs, `password=`/`api_key=`-style assignments, URLs with embedded
//! credentials). Each kind is found by a cheap literal prefilter (`@`, `://`,
//! `AKIA`, ...) before any pattern runs, candidates are validated in Rust, and
//! overlapping candidates are resolved deterministically: the more specific
//! kind wins (a GitHub token over a generic assignment, a card over a phone),
//! then the longer span, then the earlier one.
//!
//! [`redact`] replaces spans with a placeholder (`[EMAIL]`, `[PHONE]`, `[SSN]`
//! as in the seed guide, and `[CREDIT_CARD]`, `[IBAN]`, ...), a mask of `*`
//! of the same length in characters, or a salted hash (`[EMAIL:1f0c...]`) so
//! equal values stay linkable without being readable.

pub mod patterns;
mod triggers;
pub mod validators;

use std::borrow::Cow;
use std::fmt;

/// The kinds of PII and secrets [`scan`] finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PiiKind {
    Email,
    Phone,
    Ssn,
    CreditCard,
    Ipv4,
    Ipv6,
    Iban,
    AwsAccessKey,
    AwsSecretKey,
    GithubToken,
    GitlabToken,
    SlackToken,
    PrivateKey,
    Jwt,
    Secret,
    UrlCredentials,
}

impl PiiKind {
    pub const ALL: [PiiKind; 16] = [
        PiiKind::Email,
        PiiKind::Phone,
        PiiKind::Ssn,
        PiiKind::CreditCard,
        PiiKind::Ipv4,
        PiiKind::Ipv6,
        PiiKind::Iban,
        PiiKind::AwsAccessKey,
        PiiKind::AwsSecretKey,
        PiiKind::GithubToken,
        PiiKind::GitlabToken,
        PiiKind::SlackToken,
        PiiKind::PrivateKey,
        PiiKind::Jwt,
        PiiKind::Secret,
        PiiKind::UrlCredentials,
    ];
    pub const COUNT: usize = Self::ALL.len();

    /// The upper-snake name, also the placeholder's text (`EMAIL`, `CREDIT_CARD`).
    pub fn name(self) -> &'static str {
        match self {
            PiiKind::Email => "EMAIL",
            PiiKind::Phone => "PHONE",
            PiiKind::Ssn => "SSN",
            PiiKind::CreditCard => "CREDIT_CARD",
            PiiKind::Ipv4 => "IPV4",
            PiiKind::Ipv6 => "IPV6",
            PiiKind::Iban => "IBAN",
            PiiKind::AwsAccessKey => "AWS_ACCESS_KEY",
            PiiKind::AwsSecretKey => "AWS_SECRET_KEY",
            PiiKind::GithubToken => "GITHUB_TOKEN",
            PiiKind::GitlabToken => "GITLAB_TOKEN",
            PiiKind::SlackToken => "SLACK_TOKEN",
            PiiKind::PrivateKey => "PRIVATE_KEY",
            PiiKind::Jwt => "JWT",
            PiiKind::Secret => "SECRET",
            PiiKind::UrlCredentials => "URL_CREDENTIALS",
        }
    }

    /// The placeholder text, e.g. `[EMAIL]`.
    pub fn placeholder(self) -> &'static str {
        match self {
            PiiKind::Email => "[EMAIL]",
            PiiKind::Phone => "[PHONE]",
            PiiKind::Ssn => "[SSN]",
            PiiKind::CreditCard => "[CREDIT_CARD]",
            PiiKind::Ipv4 => "[IPV4]",
            PiiKind::Ipv6 => "[IPV6]",
            PiiKind::Iban => "[IBAN]",
            PiiKind::AwsAccessKey => "[AWS_ACCESS_KEY]",
            PiiKind::AwsSecretKey => "[AWS_SECRET_KEY]",
            PiiKind::GithubToken => "[GITHUB_TOKEN]",
            PiiKind::GitlabToken => "[GITLAB_TOKEN]",
            PiiKind::SlackToken => "[SLACK_TOKEN]",
            PiiKind::PrivateKey => "[PRIVATE_KEY]",
            PiiKind::Jwt => "[JWT]",
            PiiKind::Secret => "[SECRET]",
            PiiKind::UrlCredentials => "[URL_CREDENTIALS]",
        }
    }

    /// Parse an upper- or lower-case kind name (`"email"`, `"CREDIT_CARD"`).
    pub fn from_name(name: &str) -> Option<PiiKind> {
        Self::ALL.into_iter().find(|k| k.name().eq_ignore_ascii_case(name))
    }

    /// Overlap priority: the more specific detector wins.
    pub(crate) fn priority(self) -> u8 {
        match self {
            PiiKind::PrivateKey => 100,
            PiiKind::Jwt => 95,
            PiiKind::AwsAccessKey | PiiKind::GithubToken | PiiKind::GitlabToken | PiiKind::SlackToken => 90,
            PiiKind::AwsSecretKey => 85,
            PiiKind::UrlCredentials => 80,
            PiiKind::Iban => 70,
            PiiKind::CreditCard => 65,
            PiiKind::Ssn => 60,
            PiiKind::Email => 55,
            PiiKind::Ipv6 => 50,
            PiiKind::Ipv4 => 45,
            PiiKind::Phone => 40,
            PiiKind::Secret => 30,
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for PiiKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One detected span. `start..end` are character (code point) offsets, as
/// Python indexes strings; `byte_start..byte_end` index the UTF-8 text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PiiSpan {
    pub kind: PiiKind,
    pub start: usize,
    pub end: usize,
    pub byte_start: usize,
    pub byte_end: usize,
    pub text: String,
}

impl fmt::Display for PiiSpan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}, {}) {:?}", self.kind, self.start, self.end, self.text)
    }
}

/// A candidate before overlap resolution: byte range and kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub kind: PiiKind,
    pub start: usize,
    pub end: usize,
}

/// Keep a non-overlapping subset of `cands`: higher priority first, then
/// longer, then earlier; the result is sorted by start.
fn resolve(mut cands: Vec<Candidate>) -> Vec<Candidate> {
    if cands.len() <= 1 {
        return cands;
    }
    cands.sort_by(|a, b| {
        b.kind
            .priority()
            .cmp(&a.kind.priority())
            .then((b.end - b.start).cmp(&(a.end - a.start)))
            .then(a.start.cmp(&b.start))
            .then(a.kind.cmp(&b.kind))
    });
    let mut kept: Vec<Candidate> = Vec::with_capacity(cands.len());
    for c in cands {
        if kept.iter().all(|k| c.end <= k.start || c.start >= k.end) {
            kept.push(c);
        }
    }
    kept.sort_by_key(|c| (c.start, c.end));
    kept
}

/// Resolved byte ranges of every PII span in `text`, sorted by start.
pub(crate) fn scan_ranges(text: &str, kinds: Option<&[PiiKind]>) -> Vec<Candidate> {
    let mut cands = Vec::new();
    patterns::collect(text, &mut cands);
    if let Some(allowed) = kinds {
        cands.retain(|c| allowed.contains(&c.kind));
    }
    resolve(cands)
}

#[inline]
fn count_chars(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&b| (b & 0xC0) != 0x80).count()
}

/// Every PII span of `text`, sorted by start, non-overlapping.
pub fn scan(text: &str) -> Vec<PiiSpan> {
    scan_kinds(text, None)
}

/// [`scan`] restricted to `kinds` (`None` = all).
pub fn scan_kinds(text: &str, kinds: Option<&[PiiKind]>) -> Vec<PiiSpan> {
    let ranges = scan_ranges(text, kinds);
    let bytes = text.as_bytes();
    let (mut pos, mut chars) = (0usize, 0usize);
    ranges
        .into_iter()
        .map(|c| {
            chars += count_chars(&bytes[pos..c.start]);
            let start = chars;
            chars += count_chars(&bytes[c.start..c.end]);
            pos = c.end;
            PiiSpan {
                kind: c.kind,
                start,
                end: chars,
                byte_start: c.start,
                byte_end: c.end,
                text: text[c.start..c.end].to_string(),
            }
        })
        .collect()
}

/// How [`redact`] replaces a span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedactMode {
    /// `[EMAIL]`, `[PHONE]`, ...
    Placeholder,
    /// One `*` per character.
    Mask,
    /// `[KIND:<16 hex digits>]`, the xxh3 of the salt and the value.
    Hash { salt: String },
}

/// Spans found per kind, indexed by [`PiiKind::index`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PiiCounts(pub [u64; PiiKind::COUNT]);

impl PiiCounts {
    pub fn get(&self, kind: PiiKind) -> u64 {
        self.0[kind.index()]
    }
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }
    pub fn add(&mut self, other: &PiiCounts) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a += b;
        }
    }
    /// Non-zero counts as `(kind, count)`, in [`PiiKind::ALL`] order.
    pub fn nonzero(&self) -> impl Iterator<Item = (PiiKind, u64)> + '_ {
        PiiKind::ALL.into_iter().map(|k| (k, self.get(k))).filter(|&(_, n)| n > 0)
    }
}

fn push_replacement(out: &mut String, kind: PiiKind, value: &str, mode: &RedactMode) {
    match mode {
        RedactMode::Placeholder => out.push_str(kind.placeholder()),
        RedactMode::Mask => out.extend(std::iter::repeat_n('*', value.chars().count())),
        RedactMode::Hash { salt } => {
            let mut h = xxhash_rust::xxh3::Xxh3::new();
            h.update(salt.as_bytes());
            h.update(&[0]);
            h.update(value.as_bytes());
            out.push('[');
            out.push_str(kind.name());
            out.push(':');
            out.push_str(&format!("{:016x}", h.digest()));
            out.push(']');
        }
    }
}

/// Redact every span of the given `kinds` (`None` = all) in `text`. Returns
/// the redacted text and the number of spans per kind. Borrows nothing: when
/// nothing is found the text is copied unchanged.
pub fn redact(text: &str, mode: &RedactMode, kinds: Option<&[PiiKind]>) -> (String, PiiCounts) {
    let (out, counts) = redact_cow(text, mode, kinds);
    (out.into_owned(), counts)
}

/// [`redact`] that returns `text` itself, borrowed, when nothing is found.
pub fn redact_cow<'a>(text: &'a str, mode: &RedactMode, kinds: Option<&[PiiKind]>) -> (Cow<'a, str>, PiiCounts) {
    let ranges = scan_ranges(text, kinds);
    let mut counts = PiiCounts::default();
    if ranges.is_empty() {
        return (Cow::Borrowed(text), counts);
    }
    let mut out = String::with_capacity(text.len());
    let mut pos = 0usize;
    for c in ranges {
        out.push_str(&text[pos..c.start]);
        push_replacement(&mut out, c.kind, &text[c.start..c.end], mode);
        counts.0[c.kind.index()] += 1;
        pos = c.end;
    }
    out.push_str(&text[pos..]);
    (Cow::Owned(out), counts)
}

/// [`scan`] over many texts on the current rayon pool, in input order.
pub fn scan_batch<S: AsRef<str> + Sync>(texts: &[S], kinds: Option<&[PiiKind]>) -> Vec<Vec<PiiSpan>> {
    use rayon::prelude::*;
    texts.par_iter().map(|t| scan_kinds(t.as_ref(), kinds)).collect()
}

/// [`redact`] over many texts on the current rayon pool, in input order.
pub fn redact_batch<S: AsRef<str> + Sync>(
    texts: &[S],
    mode: &RedactMode,
    kinds: Option<&[PiiKind]>,
) -> Vec<(String, PiiCounts)> {
    use rayon::prelude::*;
    texts.par_iter().map(|t| redact(t.as_ref(), mode, kinds)).collect()
}

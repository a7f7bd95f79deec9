//! Parsing one JSONL record into the text fields the cleaning steps look at.
//!
//! Only the fields that matter are decoded; every other field is skipped by the
//! parser (still validated) and passes through untouched, because a kept record
//! is written back as its original bytes, with only the text values spliced in
//! when a step (PII redaction) changed them.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

/// What a text field is in its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldRole {
    /// The configured text field of a plain document.
    Text,
    Instruction,
    Input,
    Output,
    /// One turn of `messages` / `conversations`; `assistant` for model turns.
    Turn { assistant: bool },
}

/// How a record carries its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordShape {
    Text,
    Instruction,
    Messages,
    Conversations,
}

/// One string value of a record and where its JSON literal sits in the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field<'a> {
    pub role: FieldRole,
    /// Byte range of the JSON string literal (quotes included) in the line.
    pub span: Range<usize>,
    pub value: Cow<'a, str>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedRecord<'a> {
    pub shape: RecordShape,
    pub fields: Vec<Field<'a>>,
}

/// Which key holds the text of a plain document (`text` by default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextFields {
    pub text_field: String,
}

impl Default for TextFields {
    fn default() -> Self {
        Self {
            text_field: "text".to_string(),
        }
    }
}

struct Key<'a>(Cow<'a, str>);

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

/// The values of the keys we care about, as raw JSON slices of the line.
struct Wanted<'a> {
    text: Option<&'a RawValue>,
    instruction: Option<&'a RawValue>,
    input: Option<&'a RawValue>,
    output: Option<&'a RawValue>,
    messages: Option<&'a RawValue>,
    conversations: Option<&'a RawValue>,
}

struct TopVisitor<'k> {
    text_key: &'k str,
}

impl<'de> Visitor<'de> for TopVisitor<'_> {
    type Value = Wanted<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut w = Wanted {
            text: None,
            instruction: None,
            input: None,
            output: None,
            messages: None,
            conversations: None,
        };
        while let Some(Key(k)) = map.next_key::<Key<'de>>()? {
            let slot = if k == self.text_key {
                &mut w.text
            } else {
                match k.as_ref() {
                    "instruction" => &mut w.instruction,
                    "input" => &mut w.input,
                    "output" => &mut w.output,
                    "messages" => &mut w.messages,
                    "conversations" => &mut w.conversations,
                    _ => {
                        map.next_value::<IgnoredAny>()?;
                        continue;
                    }
                }
            };
            *slot = Some(map.next_value::<&'de RawValue>()?);
        }
        Ok(w)
    }
}

fn json_kind(raw: &str) -> &'static str {
    match raw.as_bytes().first() {
        Some(b'"') => "string",
        Some(b'{') => "object",
        Some(b'[') => "array",
        Some(b't' | b'f') => "boolean",
        Some(b'n') => "null",
        _ => "number",
    }
}

fn span_of(line: &str, raw: &RawValue) -> Range<usize> {
    let start = raw.get().as_ptr() as usize - line.as_ptr() as usize;
    start..start + raw.get().len()
}

fn string_field<'a>(
    line: &'a str,
    raw: &'a RawValue,
    role: FieldRole,
    name: &dyn fmt::Display,
) -> Result<Field<'a>, String> {
    let text = raw.get();
    if !text.starts_with('"') {
        return Err(format!(
            "field '{name}' must be a string, got {}",
            json_kind(text)
        ));
    }
    // RawValue has validated the literal: without a backslash its content is the value.
    let value = if text.len() >= 2 && memchr::memchr(b'\\', text.as_bytes()).is_none() {
        Cow::Borrowed(&text[1..text.len() - 1])
    } else {
        Cow::Owned(serde_json::from_str::<String>(text).map_err(|e| format!("field '{name}': {e}"))?)
    };
    Ok(Field {
        role,
        span: span_of(line, raw),
        value,
    })
}

fn turns<'a>(
    line: &'a str,
    raw: &'a RawValue,
    list_key: &str,
    text_key: &str,
    role_key: &str,
) -> Result<Vec<Field<'a>>, String> {
    if !raw.get().starts_with('[') {
        return Err(format!(
            "field '{list_key}' must be an array, got {}",
            json_kind(raw.get())
        ));
    }
    let items: Vec<&'a RawValue> =
        serde_json::from_str(raw.get()).map_err(|e| format!("field '{list_key}': {e}"))?;
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        if !item.get().starts_with('{') {
            return Err(format!(
                "{list_key}[{i}] must be an object, got {}",
                json_kind(item.get())
            ));
        }
        let map: Vec<(Key<'a>, &'a RawValue)> = serde_json::from_str::<PairList<'a>>(item.get())
            .map_err(|e| format!("{list_key}[{i}]: {e}"))?
            .0;
        let speaker = map
            .iter()
            .find(|(k, _)| k.0 == role_key)
            .and_then(|(_, v)| serde_json::from_str::<String>(v.get()).ok());
        let assistant = matches!(speaker.as_deref(), Some("assistant" | "gpt" | "model"));
        match map.iter().rev().find(|(k, _)| k.0 == text_key) {
            Some((_, v)) => out.push(string_field(
                line,
                v,
                FieldRole::Turn { assistant },
                &format_args!("{list_key}[{i}].{text_key}"),
            )?),
            None => return Err(format!("{list_key}[{i}] has no '{text_key}' field")),
        }
    }
    Ok(out)
}

struct PairList<'a>(Vec<(Key<'a>, &'a RawValue)>);

impl<'de> de::Deserialize<'de> for PairList<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PairList<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(k) = map.next_key::<Key<'de>>()? {
                    out.push((k, map.next_value::<&'de RawValue>()?));
                }
                Ok(PairList(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// Parse one line: `Err` carries the reason it is rejected.
pub fn parse_record<'a>(line: &'a str, spec: &TextFields) -> Result<ParsedRecord<'a>, String> {
    let trimmed = line.trim_start();
    if trimmed.is_empty() {
        return Err("empty line".to_string());
    }
    if !trimmed.starts_with('{') {
        return Err(match serde_json::from_str::<IgnoredAny>(line) {
            Ok(_) => format!("expected a JSON object, got {}", json_kind(trimmed)),
            Err(e) => format!("malformed JSON: {e}"),
        });
    }
    let mut de = serde_json::Deserializer::from_str(line);
    let wanted = de
        .deserialize_map(TopVisitor {
            text_key: &spec.text_field,
        })
        .and_then(|w| de.end().map(|()| w))
        .map_err(|e| format!("malformed JSON: {e}"))?;
    if let Some(raw) = wanted.text {
        let f = string_field(line, raw, FieldRole::Text, &spec.text_field)?;
        return Ok(ParsedRecord {
            shape: RecordShape::Text,
            fields: vec![f],
        });
    }
    if wanted.instruction.is_some() || wanted.output.is_some() {
        let mut fields = Vec::with_capacity(3);
        for (raw, role, name) in [
            (wanted.instruction, FieldRole::Instruction, "instruction"),
            (wanted.input, FieldRole::Input, "input"),
            (wanted.output, FieldRole::Output, "output"),
        ] {
            match raw {
                Some(r) if r.get() == "null" && role == FieldRole::Input => {}
                Some(r) => fields.push(string_field(line, r, role, &name)?),
                None if role == FieldRole::Input => {}
                None => return Err(format!("instruction record without '{name}'")),
            }
        }
        return Ok(ParsedRecord {
            shape: RecordShape::Instruction,
            fields,
        });
    }
    if let Some(raw) = wanted.messages {
        return Ok(ParsedRecord {
            shape: RecordShape::Messages,
            fields: turns(line, raw, "messages", "content", "role")?,
        });
    }
    if let Some(raw) = wanted.conversations {
        return Ok(ParsedRecord {
            shape: RecordShape::Conversations,
            fields: turns(line, raw, "conversations", "value", "from")?,
        });
    }
    Err(format!(
        "missing field '{}' (and no instruction/output, messages or conversations)",
        spec.text_field
    ))
}

/// `line` with the JSON string literals at `edits` (non-overlapping, any order)
/// replaced by the given values.
pub fn splice(line: &str, edits: &mut [(Range<usize>, &str)]) -> String {
    edits.sort_by_key(|(r, _)| r.start);
    let mut out = String::with_capacity(line.len() + 16);
    let mut at = 0;
    for (range, value) in edits.iter() {
        out.push_str(&line[at..range.start]);
        // Serializing a &str into a String cannot fail.
        out.push_str(&serde_json::to_string(value).unwrap_or_default());
        at = range.end;
    }
    out.push_str(&line[at..]);
    out
}

/// Where the text of a plain-text record sits, found by [`locate_text`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextLiteral {
    /// Byte range of the JSON string literal (quotes included) in the line.
    pub span: Range<usize>,
    /// Whether the literal contains escapes (else its inside is the value).
    pub escaped: bool,
}

/// Deepest nesting the fast scanner follows; deeper records take the general
/// parser (serde_json's own limit is 128).
const MAX_DEPTH: usize = 64;

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Whether any byte of `w` is `"`, `\` or below 0x20. Exact for "any" (the
/// bit trick may flag the wrong byte, never miss one).
#[inline(always)]
fn has_string_special(w: u64) -> bool {
    let quote = w ^ (ONES * u64::from(b'"'));
    let backslash = w ^ (ONES * u64::from(b'\\'));
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    (zero(quote) | zero(backslash) | (w.wrapping_sub(ONES * 0x20) & !w & HIGHS)) != 0
}

fn hex4(b: &[u8]) -> Option<u32> {
    let mut v = 0u32;
    for &c in b.get(..4)? {
        v = v * 16 + char::from(c).to_digit(16)?;
    }
    Some(v)
}

/// A strict JSON scanner over one line that serde_json would accept as well:
/// it answers `None` for anything it does not vouch for (invalid JSON, but also
/// surrogate escapes, escaped keys, deep nesting), and the caller then takes
/// the general parser, which gives the exact error.
struct Scan<'a> {
    line: &'a str,
    b: &'a [u8],
    i: usize,
    /// Where to normalise the text value while scanning it (one pass instead
    /// of validate, decode, normalise).
    norm: Option<&'a mut String>,
}

impl Scan<'_> {
    #[inline]
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    #[inline]
    fn eat(&mut self, c: u8) -> Option<()> {
        (self.b.get(self.i) == Some(&c)).then(|| self.i += 1)
    }

    /// At an opening quote: past the closing one; whether there were escapes.
    #[inline]
    fn string(&mut self) -> Option<bool> {
        let b = self.b;
        let mut i = self.i + 1;
        let mut escaped = false;
        loop {
            while i + 8 <= b.len() {
                let mut word = [0u8; 8];
                word.copy_from_slice(&b[i..i + 8]);
                if has_string_special(u64::from_le_bytes(word)) {
                    break;
                }
                i += 8;
            }
            match *b.get(i)? {
                b'"' => {
                    self.i = i + 1;
                    return Some(escaped);
                }
                b'\\' => {
                    escaped = true;
                    match *b.get(i + 1)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                        b'u' => {
                            let cp = hex4(b.get(i + 2..)?)?;
                            if (0xD800..0xE000).contains(&cp) {
                                return None;
                            }
                            i += 6;
                        }
                        _ => return None,
                    }
                }
                c if c < 0x20 => return None,
                _ => i += 1,
            }
        }
    }

    fn digits(&mut self) -> Option<()> {
        let start = self.i;
        while self.b.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
        (self.i > start).then_some(())
    }

    fn number(&mut self) -> Option<()> {
        let _ = self.eat(b'-');
        match self.b.get(self.i)? {
            b'0' => self.i += 1,
            b'1'..=b'9' => self.digits()?,
            _ => return None,
        }
        if self.eat(b'.').is_some() {
            self.digits()?;
        }
        if let Some(b'e' | b'E') = self.b.get(self.i) {
            self.i += 1;
            if let Some(b'+' | b'-') = self.b.get(self.i) {
                self.i += 1;
            }
            self.digits()?;
        }
        // A number runs into the next token only through a delimiter.
        match self.b.get(self.i) {
            None | Some(b' ' | b'\n' | b'\r' | b'\t' | b',' | b'}' | b']') => Some(()),
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        if self.b.get(self.i..self.i + word.len()) == Some(word) {
            self.i += word.len();
            Some(())
        } else {
            None
        }
    }

    fn value(&mut self, depth: usize) -> Option<()> {
        match *self.b.get(self.i)? {
            b'"' => self.string().map(|_| ()),
            b'{' => self.object(depth + 1, None).map(|_| ()),
            b'[' => self.array(depth + 1),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn array(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.i += 1;
        self.ws();
        if self.eat(b']').is_some() {
            return Some(());
        }
        loop {
            self.value(depth)?;
            self.ws();
            match *self.b.get(self.i)? {
                b',' => {
                    self.i += 1;
                    self.ws();
                }
                b']' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// An object; with `key`, the literal of the last value under that key
    /// (`Some(None)` when that value is not a string or the key is absent).
    fn object(&mut self, depth: usize, key: Option<&[u8]>) -> Option<Option<TextLiteral>> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.i += 1;
        self.ws();
        let mut found = None;
        if self.eat(b'}').is_some() {
            return Some(found);
        }
        loop {
            if self.b.get(self.i) != Some(&b'"') {
                return None;
            }
            let key_start = self.i + 1;
            if self.string()? {
                // Escaped keys are compared decoded by the general parser.
                return None;
            }
            let this_key = &self.b[key_start..self.i - 1];
            self.ws();
            self.eat(b':')?;
            self.ws();
            let value_start = self.i;
            if key == Some(this_key) {
                if self.b.get(self.i) == Some(&b'"') {
                    let escaped = match self.norm.as_deref_mut() {
                        Some(out) => {
                            let (end, escaped) =
                                crate::dedup::exact::normalize_json_string(self.line, self.i, out)?;
                            self.i = end;
                            escaped
                        }
                        None => self.string()?,
                    };
                    found = Some(TextLiteral {
                        span: value_start..self.i,
                        escaped,
                    });
                } else {
                    self.value(depth)?;
                    found = None;
                }
            } else {
                self.value(depth)?;
            }
            self.ws();
            match *self.b.get(self.i)? {
                b',' => {
                    self.i += 1;
                    self.ws();
                }
                b'}' => {
                    self.i += 1;
                    return Some(found);
                }
                _ => return None,
            }
        }
    }
}

/// The fast path of [`parse_record`] for plain-text records: when `line` is a
/// JSON object whose `spec.text_field` is a string, where that string is,
/// without building any value. `None` means "ask [`parse_record`]": the line
/// is malformed, has another shape, or uses a rare construct (surrogate
/// escapes, escaped keys, nesting deeper than 64) that the scanner leaves to
/// the general parser. Whenever this returns `Some`, `parse_record` accepts
/// the line as a text record with the same span.
pub fn locate_text(line: &str, spec: &TextFields) -> Option<TextLiteral> {
    scan_text(line, spec, None)
}

/// [`locate_text`] that also writes the normalised text value
/// ([`crate::text::normalize`] of the decoded string) into `normalized`,
/// decoding and normalising in the same pass that validates the literal.
pub fn locate_normalized_text(line: &str, spec: &TextFields, normalized: &mut String) -> Option<TextLiteral> {
    scan_text(line, spec, Some(normalized))
}

fn scan_text(line: &str, spec: &TextFields, norm: Option<&mut String>) -> Option<TextLiteral> {
    let mut scan = Scan {
        line,
        b: line.as_bytes(),
        i: 0,
        norm,
    };
    scan.ws();
    if scan.b.get(scan.i) != Some(&b'{') {
        return None;
    }
    let found = scan.object(1, Some(spec.text_field.as_bytes()))?;
    scan.ws();
    if scan.i != scan.b.len() {
        return None;
    }
    found
}

/// Decode the inside of a JSON string literal that [`locate_text`] validated
/// (quotes excluded) into `out` (cleared first).
pub fn unescape_into(inner: &str, out: &mut String) {
    out.clear();
    out.reserve(inner.len());
    let b = inner.as_bytes();
    let mut run = 0;
    let mut i = 0;
    while let Some(off) = memchr::memchr(b'\\', &b[i..]) {
        i += off;
        out.push_str(&inner[run..i]);
        let (c, len) = match b.get(i + 1) {
            Some(b'n') => ('\n', 2),
            Some(b't') => ('\t', 2),
            Some(b'r') => ('\r', 2),
            Some(b'b') => ('\u{8}', 2),
            Some(b'f') => ('\u{c}', 2),
            Some(b'u') => {
                let cp = b.get(i + 2..).and_then(hex4).unwrap_or(0xFFFD);
                (char::from_u32(cp).unwrap_or('\u{FFFD}'), 6)
            }
            Some(&other) => (char::from(other), 2),
            None => ('\\', 1),
        };
        out.push(c);
        i += len;
        run = i;
    }
    out.push_str(&inner[run..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Result<ParsedRecord<'_>, String> {
        parse_record(line, &TextFields::default())
    }

    #[test]
    fn text_record_and_span() {
        let line = r#"{"id": 3, "text": "a\nb", "meta": {"x": [1]}}"#;
        let r = parse(line).unwrap();
        assert_eq!(r.shape, RecordShape::Text);
        assert_eq!(r.fields[0].value, "a\nb");
        assert_eq!(&line[r.fields[0].span.clone()], r#""a\nb""#);
        let mut edits = [(r.fields[0].span.clone(), "X \"q\"")];
        assert_eq!(
            splice(line, &mut edits),
            r#"{"id": 3, "text": "X \"q\"", "meta": {"x": [1]}}"#
        );
    }

    #[test]
    fn instruction_and_messages() {
        let r = parse(r#"{"instruction": "do", "input": null, "output": "done"}"#).unwrap();
        assert_eq!(r.shape, RecordShape::Instruction);
        assert_eq!(r.fields.len(), 2);
        let r = parse(r#"{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}"#).unwrap();
        assert_eq!(r.fields[1].role, FieldRole::Turn { assistant: true });
        let r = parse(r#"{"conversations": [{"from": "human", "value": "hi"}]}"#).unwrap();
        assert_eq!(r.shape, RecordShape::Conversations);
    }

    #[test]
    fn rejections_say_why() {
        assert_eq!(parse("").unwrap_err(), "empty line");
        assert!(parse("{\"text\": ").unwrap_err().starts_with("malformed JSON"));
        assert_eq!(parse("[1]").unwrap_err(), "expected a JSON object, got array");
        assert_eq!(
            parse(r#"{"text": 5}"#).unwrap_err(),
            "field 'text' must be a string, got number"
        );
        assert!(parse(r#"{"id": 1}"#).unwrap_err().starts_with("missing field 'text'"));
        assert!(parse(r#"{"text": "a"} x"#).unwrap_err().starts_with("malformed JSON"));
        assert!(parse(r#"{"messages": [{"role": "user"}]}"#).is_err());
    }

    /// What `parse_record` says about a text record: (span, value) or None.
    fn general(line: &str) -> Option<(Range<usize>, String)> {
        match parse(line) {
            Ok(r) if r.shape == RecordShape::Text => Some((r.fields[0].span.clone(), r.fields[0].value.to_string())),
            _ => None,
        }
    }

    fn fast(line: &str) -> Option<(Range<usize>, String)> {
        let mut norm = String::from("stale");
        let with_norm = locate_normalized_text(line, &TextFields::default(), &mut norm);
        let lit = locate_text(line, &TextFields::default());
        assert_eq!(with_norm, lit, "{line}");
        let lit = lit?;
        let inner = &line[lit.span.start + 1..lit.span.end - 1];
        let mut buf = String::new();
        let value = if lit.escaped {
            unescape_into(inner, &mut buf);
            buf
        } else {
            inner.to_string()
        };
        assert_eq!(norm, crate::text::normalize(&value), "{line}");
        Some((lit.span, value))
    }

    #[test]
    fn fast_locator_examples() {
        for line in [
            r#"{"id": 3, "text": "a\nb\u00e9\"", "meta": {"x": [1, -2.5e3, true, null, {}]}}"#,
            r#"  {"text":"plain"}  "#,
            r#"{"text": 1, "text": "last wins"}"#,
            r#"{"a": [[[]]], "text": "\\\/\b\f\r\t"}"#,
        ] {
            assert!(fast(line).is_some(), "{line}");
            assert_eq!(fast(line), general(line), "{line}");
        }
        for line in [
            r#"{"text": "a", "text": 2}"#,
            r#"{"text": "\ud83d\ude00"}"#,
            r#"{"te\u0078t": "x"}"#,
            r#"{"text": "a",}"#,
            r#"{"text": "a"} x"#,
            r#"{"text": 01}"#,
            "{\"text\": \"tab\there\"}",
            r#"{"instruction": "x", "output": "y"}"#,
            r#"{"text": "a", "n": 1.}"#,
            r#"{"text": "a", "n": tru}"#,
            r#"{"text": "a" "b": 1}"#,
            r#"{"text": "\x"}"#,
        ] {
            assert_eq!(fast(line), None, "{line}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// Whenever the fast scanner vouches for a line, the general parser
        /// reads the same text at the same place from it.
        #[test]
        fn fast_locator_agrees_with_serde(
            parts in proptest::collection::vec(proptest::prop_oneof![
                proptest::strategy::Just("{".to_string()),
                proptest::strategy::Just("}".to_string()),
                proptest::strategy::Just("[".to_string()),
                proptest::strategy::Just("]".to_string()),
                proptest::strategy::Just(",".to_string()),
                proptest::strategy::Just(":".to_string()),
                proptest::strategy::Just(" ".to_string()),
                proptest::strategy::Just("\"text\"".to_string()),
                proptest::strategy::Just("\"id\"".to_string()),
                proptest::strategy::Just("true".to_string()),
                proptest::strategy::Just("null".to_string()),
                "-?[0-9]{1,3}(\\.[0-9]{0,2})?([eE][+-]?[0-9]{0,2})?",
                "\"([a-z \u{e9}\t]|\\\\[nrtbf\"/\\\\u]|\\\\u00[0-9a-f]{2}|\\\\ud8[0-9a-f]{2})*\"",
            ], 0..14)
        ) {
            let line = format!("{{\"text\": \"x\", {}", parts.concat());
            if let Some(got) = fast(&line) {
                proptest::prop_assert_eq!(Some(got), general(&line), "{}", line);
            }
            let line = parts.concat();
            if let Some(got) = fast(&line) {
                proptest::prop_assert_eq!(Some(got), general(&line), "{}", line);
            }
        }
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        use serde_json::Value;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            (-1e9f64..1e9).prop_map(Value::from),
            "\\PC{0,12}".prop_map(Value::from),
            "[\u{0}-\u{1f}\"\\\\/a]{0,6}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 24, 5, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                proptest::collection::vec(("[a-z]{1,5}", inner), 0..5)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        /// Records serde_json writes (any nesting, escapes, unicode) take the
        /// fast path and read back the same text.
        #[test]
        fn fast_locator_reads_serialized_records(
            text in "\\PC{0,40}|[\u{0}-\u{1f}\"\\\\ a\u{e9}\u{1f600}]{0,20}",
            others in proptest::collection::vec(("[a-z]{1,6}", json_value()), 0..4),
            pretty in proptest::bool::ANY,
        ) {
            let mut map = serde_json::Map::new();
            for (k, v) in others {
                map.insert(k, v);
            }
            map.insert("text".to_string(), serde_json::Value::from(text.clone()));
            let line = if pretty {
                serde_json::to_string_pretty(&map).unwrap()
            } else {
                serde_json::to_string(&map).unwrap()
            };
            let got = fast(&line);
            proptest::prop_assert!(got.is_some(), "{}", line);
            proptest::prop_assert_eq!(got.clone(), general(&line));
            proptest::prop_assert_eq!(got.unwrap().1, text);
        }
    }
}

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
}

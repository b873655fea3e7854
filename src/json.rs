//! JSON documents of the job contract (INPUTS_JSON, RESOURCES_JSON), read
//! strictly: UTF-8 only, a key given twice is an error (not "the last one
//! wins"), `-0` is the integer 0, and floats keep their exact value.
//!
//! Ground floor: text in, a `serde_json::Value` or a sentence out.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Parses a contract document; the error is a sentence without the source.
pub fn parse(bytes: &[u8]) -> Result<Value, String> {
    let text = std::str::from_utf8(bytes).map_err(|err| {
        format!(
            "is not UTF-8 text (invalid byte at offset {})",
            err.valid_up_to()
        )
    })?;
    let text = negative_zero_is_zero(text);
    let mut de = serde_json::Deserializer::from_str(&text);
    let value = de
        .deserialize_any(Strict)
        .map_err(|err| format!("is not valid JSON: {err}"))?;
    de.end()
        .map_err(|err| format!("is not valid JSON: {err}"))?;
    Ok(value)
}

/// JSON's `-0` is an integer literal, but serde_json reads it as the float
/// -0.0, which an int input would refuse. Rewritten as ` 0` (same length,
/// so error positions stay right); `-0.0` and `-0e1` stay floats.
fn negative_zero_is_zero(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains("-0") {
        return text.into();
    }
    let bytes = text.as_bytes();
    let mut out = bytes.to_vec();
    let mut in_string = false;
    let mut escaped = false;
    for i in 0..bytes.len() {
        let b = bytes[i];
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'-' if bytes.get(i + 1) == Some(&b'0')
                && !matches!(bytes.get(i + 2), Some(b'0'..=b'9' | b'.' | b'e' | b'E')) =>
            {
                out[i] = b' ';
            }
            _ => {}
        }
    }
    String::from_utf8(out)
        .map(Into::into)
        .unwrap_or_else(|_| text.into())
}

/// Builds a `Value`, refusing a key given twice in one object.
struct Strict;

impl<'de> de::DeserializeSeed<'de> for Strict {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(Strict)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Strict)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(format!(
                    "the key \"{}\" is given twice",
                    key.escape_debug()
                )));
            }
            let value = map.next_value_seed(Strict)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_documents() {
        assert_eq!(parse(br#"{"a": -0}"#).unwrap(), serde_json::json!({"a": 0}));
        assert!(parse(br#"{"a": -0.0}"#).unwrap()["a"].is_f64());
        assert_eq!(
            parse(br#"{"s": "-0"}"#).unwrap(),
            serde_json::json!({"s": "-0"})
        );
        assert!(
            parse(br#"{"a": 1, "a": 2}"#)
                .unwrap_err()
                .contains("given twice")
        );
        assert!(parse(b"{\"a\": \"\xff\"}").unwrap_err().contains("UTF-8"));
        assert_eq!(parse(b"1e-30").unwrap().as_f64(), Some(1e-30));
        assert!(parse(b"{} x").is_err());
    }
}

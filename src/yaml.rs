//! A YAML document as a tree of nodes that each remember their line and column.
//!
//! Owns the YAML syntax: strict booleans, duplicate keys as errors, resource
//! budgets. It must not know anything about tool specs; `spec` walks the tree.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// A 1-based position in the source text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Loc {
    pub line: u64,
    pub column: u64,
}

impl Loc {
    fn from_saphyr(location: serde_saphyr::Location) -> Self {
        Self {
            line: location.line(),
            column: location.column(),
        }
    }
}

/// One YAML node and where it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub value: Value,
    pub loc: Loc,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Keys keep their own locations so that an unknown key can be pointed at.
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// A short name of the node's kind for messages ("a string", "a list" …).
    pub fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The node as plain JSON (locations dropped), for defaults and `env`.
    pub fn to_json(&self) -> serde_json::Value {
        match &self.value {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => (*b).into(),
            Value::Int(i) => (*i).into(),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::Str(s) => s.clone().into(),
            Value::Seq(items) => items.iter().map(Node::to_json).collect(),
            Value::Map(entries) => entries
                .iter()
                .map(|(k, v)| (k.key_text(), v.to_json()))
                .collect::<serde_json::Map<_, _>>()
                .into(),
        }
    }

    /// The text of a mapping key (non-string keys as YAML would print them).
    pub fn key_text(&self) -> String {
        match &self.value {
            Value::Str(s) => s.clone(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Null => "null".to_string(),
            Value::Seq(_) | Value::Map(_) => "<complex key>".to_string(),
        }
    }
}

/// A YAML syntax error (or a document that breaks the resource budget).
#[derive(Debug)]
pub struct SyntaxError {
    pub message: String,
    pub loc: Option<Loc>,
}

/// Parses one YAML document into a located tree.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    let options = serde_saphyr::options! {
        strict_booleans: true,
        duplicate_keys: serde_saphyr::DuplicateKeyPolicy::Error,
        budget: serde_saphyr::budget! {
            max_total_scalar_bytes: 16 * 1024 * 1024,
            max_events: 1_000_000,
            max_depth: 64,
        },
    };
    let spanned: Spanned<Value> =
        serde_saphyr::from_str_with_options(text, options).map_err(|err| SyntaxError {
            message: clean_message(&err),
            loc: err.location().map(Loc::from_saphyr),
        })?;
    Ok(node(spanned))
}

/// serde-saphyr appends the position to its messages; ours are placed by the
/// caller, so only the sentence is kept.
fn clean_message(err: &serde_saphyr::Error) -> String {
    let text = err.without_snippet().to_string();
    let first = text.lines().next().unwrap_or_default().trim();
    let first = match first.find(" at line ") {
        Some(at) => &first[..at],
        None => first,
    };
    let first = first.trim_start_matches("error: ");
    if let Some(key) = first.strip_prefix("duplicate mapping key: ") {
        let key = key.split(", set DuplicateKeyPolicy").next().unwrap_or(key);
        return format!("duplicate key `{key}`");
    }
    first.to_string()
}

fn node(spanned: Spanned<Value>) -> Node {
    Node {
        value: spanned.value,
        loc: Loc::from_saphyr(spanned.referenced),
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        match i64::try_from(v) {
            Ok(i) => Ok(Value::Int(i)),
            Err(_) => Ok(Value::Float(v as f64)),
        }
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        match i64::try_from(v) {
            Ok(i) => Ok(Value::Int(i)),
            Err(_) => Ok(Value::Float(v as f64)),
        }
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        match i64::try_from(v) {
            Ok(i) => Ok(Value::Int(i)),
            Err(_) => Ok(Value::Float(v as f64)),
        }
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Value>>()? {
            items.push(node(item));
        }
        Ok(Value::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<Value>>()? {
            let value = map.next_value::<Spanned<Value>>()?;
            entries.push((node(key), node(value)));
        }
        Ok(Value::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_carry_lines() {
        let root = parse("id: x\ninputs:\n  a: {type: int}\n").unwrap();
        let Value::Map(entries) = &root.value else {
            panic!("not a map")
        };
        assert_eq!(entries[1].0.loc.line, 2);
        let Value::Map(inputs) = &entries[1].1.value else {
            panic!("not a map")
        };
        assert_eq!(inputs[0].0.loc, Loc { line: 3, column: 3 });
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let err = parse("id: x\nid: y\n").unwrap_err();
        assert_eq!(err.loc.map(|l| l.line), Some(2));
    }

    #[test]
    fn yes_is_a_string() {
        let root = parse("a: yes\n").unwrap();
        let Value::Map(entries) = &root.value else {
            panic!("not a map")
        };
        assert_eq!(entries[0].1.value, Value::Str("yes".into()));
    }
}

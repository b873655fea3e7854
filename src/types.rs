//! The types a spec declares: input types (`string int float boolean enum
//! File Directory record`, arrays `T[]`, optional `T?` and `T[]?`), their
//! constraints (a record's fields among them), and the types of value
//! outputs.
//!
//! Ground floor: both the spec checker and inputs validation build on it;
//! it imports no stage.

use std::fmt;

use regex::Regex;

use crate::cwl::SecondaryFile;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BaseType {
    String,
    Int,
    Float,
    Boolean,
    Enum,
    File,
    Directory,
    /// Named, typed fields (CWL records, Galaxy sections; arrays of them
    /// are Galaxy repeats).
    Record,
}

impl BaseType {
    pub const NAMES: [&'static str; 8] = [
        "string",
        "int",
        "float",
        "boolean",
        "enum",
        "File",
        "Directory",
        "record",
    ];

    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "string" => BaseType::String,
            "int" => BaseType::Int,
            "float" => BaseType::Float,
            "boolean" => BaseType::Boolean,
            "enum" => BaseType::Enum,
            "File" => BaseType::File,
            "Directory" => BaseType::Directory,
            "record" => BaseType::Record,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            BaseType::String => "string",
            BaseType::Int => "int",
            BaseType::Float => "float",
            BaseType::Boolean => "boolean",
            BaseType::Enum => "enum",
            BaseType::File => "File",
            BaseType::Directory => "Directory",
            BaseType::Record => "record",
        }
    }

    pub fn is_path(self) -> bool {
        matches!(self, BaseType::File | BaseType::Directory)
    }
}

/// An input's declared type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InputType {
    pub base: BaseType,
    pub array: bool,
    pub optional: bool,
}

impl InputType {
    /// Parses `int`, `File[]`, `string?`, `string[]?`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (rest, optional) = match text.strip_suffix('?') {
            Some(rest) => (rest, true),
            None => (text, false),
        };
        let (rest, array) = match rest.strip_suffix("[]") {
            Some(rest) => (rest, true),
            None => (rest, false),
        };
        match BaseType::from_name(rest) {
            Some(base) => Ok(Self {
                base,
                array,
                optional,
            }),
            None => {
                let lower = rest.to_ascii_lowercase();
                let guess = BaseType::NAMES
                    .iter()
                    .find(|n| n.to_ascii_lowercase() == lower)
                    .copied()
                    .or(match lower.as_str() {
                        "str" | "text" => Some("string"),
                        "integer" | "long" => Some("int"),
                        "double" | "number" => Some("float"),
                        "bool" => Some("boolean"),
                        _ => crate::suggest::closest(rest, BaseType::NAMES),
                    });
                let suffix = &text[rest.len()..];
                let hint = guess
                    .map(|name| format!("; did you mean `{name}{suffix}`?"))
                    .unwrap_or_default();
                Err(format!(
                    "unknown type `{text}`; expected one of {}, as `T`, `T[]`, `T?` or `T[]?`{hint}",
                    BaseType::NAMES.join(", ")
                ))
            }
        }
    }
}

impl fmt::Display for InputType {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.base.name())?;
        if self.array {
            f.write_str("[]")?;
        }
        if self.optional {
            f.write_str("?")?;
        }
        Ok(())
    }
}

/// What a declared input allows besides its type. For an array, each
/// constraint applies to every element.
#[derive(Debug, Default)]
pub struct Constraints {
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub pattern: Option<Regex>,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub symbols: Vec<String>,
    pub format: Option<String>,
    pub secondary_files: Vec<SecondaryFile>,
    /// A record's fields, in order.
    pub fields: Vec<Field>,
}

/// One field of a record: a declared type, its constraints and default.
#[derive(Debug)]
pub struct Field {
    pub name: String,
    pub ty: InputType,
    pub constraints: Constraints,
    pub default: Option<serde_json::Value>,
    pub description: Option<String>,
}

/// The type of a value output (one read `from:` stdout, stderr or a file).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    String,
    Int,
    Float,
    Boolean,
    Json,
}

impl ValueType {
    pub const NAMES: [&'static str; 5] = ["string", "int", "float", "boolean", "json"];

    pub fn name(self) -> &'static str {
        match self {
            ValueType::String => "string",
            ValueType::Int => "int",
            ValueType::Float => "float",
            ValueType::Boolean => "boolean",
            ValueType::Json => "json",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "string" => ValueType::String,
            "int" => ValueType::Int,
            "float" => ValueType::Float,
            "boolean" => ValueType::Boolean,
            "json" => ValueType::Json,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_suffixes() {
        let t = InputType::parse("File[]?").unwrap();
        assert_eq!(
            t,
            InputType {
                base: BaseType::File,
                array: true,
                optional: true
            }
        );
        assert_eq!(t.to_string(), "File[]?");
        assert!(InputType::parse("str").unwrap_err().contains("`string`"));
        assert!(InputType::parse("file").unwrap_err().contains("`File`"));
        assert!(InputType::parse("int?[]").is_err());
    }
}

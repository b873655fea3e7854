//! `omni-launch schema`: the JSON Schema (2020-12) of one spec's inputs, for
//! UIs and for LLM tool / function calling; and `inputs-template`, an
//! example inputs document. The schema accepts what `run` accepts: a File
//! as a path, a URI or a CWL object, and `null` for an input that may be
//! absent.

use serde_json::{Map, Value, json};

use crate::spec::{InputSpec, Spec};
use crate::types::{BaseType, Constraints, Field, InputType};

/// A declared value, an input or a record's field, as the schema sees it.
struct Decl<'a> {
    name: &'a str,
    ty: InputType,
    constraints: &'a Constraints,
    description: Option<&'a str>,
    default: Option<&'a Value>,
    secret: bool,
}

impl<'a> Decl<'a> {
    fn input(input: &'a InputSpec) -> Self {
        Self {
            name: &input.name,
            ty: input.ty,
            constraints: &input.constraints,
            description: input.description.as_deref(),
            default: input.default.as_ref(),
            secret: input.secret,
        }
    }

    fn field(field: &'a Field) -> Self {
        Self {
            name: &field.name,
            ty: field.ty,
            constraints: &field.constraints,
            description: field.description.as_deref(),
            default: field.default.as_ref(),
            secret: false,
        }
    }

    fn may_be_absent(&self) -> bool {
        self.ty.optional || self.default.is_some()
    }
}

pub fn inputs_schema(spec: &Spec) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for (name, input) in &spec.inputs {
        properties.insert(name.clone(), input_schema(&Decl::input(input)));
        if !input.may_be_absent() {
            required.push(Value::String(name.clone()));
        }
    }
    let mut schema = Map::new();
    schema.insert(
        "$schema".into(),
        "https://json-schema.org/draft/2020-12/schema".into(),
    );
    schema.insert("title".into(), spec.id.clone().into());
    if let Some(description) = &spec.description {
        schema.insert("description".into(), description.clone().into());
    }
    schema.insert("type".into(), "object".into());
    schema.insert("properties".into(), Value::Object(properties));
    schema.insert("required".into(), Value::Array(required));
    schema.insert("additionalProperties".into(), false.into());
    Value::Object(schema)
}

fn input_schema(input: &Decl) -> Value {
    let mut item = Map::new();
    let path_note =
        |class: &str| format!("{class}: a local path, or a file://, s3:// or azureblob:// URI");
    match input.ty.base {
        BaseType::String => {
            item.insert("type".into(), "string".into());
            if let Some(n) = input.constraints.min_length {
                item.insert("minLength".into(), n.into());
            }
            if let Some(n) = input.constraints.max_length {
                item.insert("maxLength".into(), n.into());
            }
            if let Some(re) = &input.constraints.pattern {
                item.insert("pattern".into(), re.as_str().into());
            }
        }
        BaseType::Int | BaseType::Float => {
            let ty = if input.ty.base == BaseType::Int {
                "integer"
            } else {
                "number"
            };
            item.insert("type".into(), ty.into());
            let bound = |v: f64| {
                if input.ty.base == BaseType::Int && v.fract() == 0.0 {
                    json!(v as i64)
                } else {
                    json!(v)
                }
            };
            if let Some(min) = input.constraints.min {
                item.insert("minimum".into(), bound(min));
            }
            if let Some(max) = input.constraints.max {
                item.insert("maximum".into(), bound(max));
            }
        }
        BaseType::Boolean => {
            item.insert("type".into(), "boolean".into());
        }
        BaseType::Enum => {
            item.insert("type".into(), "string".into());
            item.insert("enum".into(), input.constraints.symbols.clone().into());
        }
        BaseType::Record => {
            let mut properties = Map::new();
            let mut required = Vec::new();
            for field in &input.constraints.fields {
                let field = Decl::field(field);
                properties.insert(field.name.to_string(), input_schema(&field));
                if !field.may_be_absent() {
                    required.push(Value::String(field.name.to_string()));
                }
            }
            item.insert("type".into(), "object".into());
            item.insert("properties".into(), Value::Object(properties));
            item.insert("required".into(), Value::Array(required));
            item.insert("additionalProperties".into(), false.into());
        }
        BaseType::File | BaseType::Directory => {
            let class = input.ty.base.name();
            let mut object = json!({
                "type": "object",
                "description": format!("A CWL {class} object"),
                "properties": {
                    "class": {"const": class},
                    "location": {"type": "string"},
                    "path": {"type": "string"},
                },
                "required": ["class"],
            });
            if input.ty.base == BaseType::File {
                object["properties"]["checksum"] = json!({
                    "type": "string",
                    "description": "Checked against the file's contents before the run",
                    "pattern": "^(sha1\\$[0-9a-fA-F]{40}|sha256\\$[0-9a-fA-F]{64})$",
                });
            }
            item.insert(
                "anyOf".into(),
                json!([{"type": "string", "description": path_note(class)}, object]),
            );
        }
    }
    let mut schema = if input.ty.array {
        let mut array = Map::new();
        array.insert("type".into(), "array".into());
        array.insert("items".into(), Value::Object(item));
        array
    } else {
        item
    };
    let mut description = input.description.unwrap_or_default().to_string();
    if let Some(format) = &input.constraints.format {
        if !description.is_empty() {
            description.push(' ');
        }
        description.push_str(&format!("(format: {format})"));
    }
    if !description.is_empty() {
        if input.ty.base.is_path() && !input.ty.array {
            description = format!("{description}. {}", path_note(input.ty.base.name()));
        }
        schema.insert("description".into(), description.into());
    }
    if let Some(default) = input.default {
        schema.insert("default".into(), default.clone());
    }
    if input.secret {
        // Masked in everything the launcher writes: never shown back.
        schema.insert("writeOnly".into(), true.into());
    }
    if input.may_be_absent() {
        allow_null(&mut schema);
    }
    Value::Object(schema)
}

/// `null` means "absent" (or "the default") to `run`; the schema says so.
fn allow_null(schema: &mut Map<String, Value>) {
    if let Some(Value::Array(symbols)) = schema.get_mut("enum") {
        symbols.push(Value::Null);
    }
    if let Some(Value::Array(options)) = schema.get_mut("anyOf") {
        options.push(json!({"type": "null"}));
    } else if let Some(Value::String(ty)) = schema.get("type") {
        let both = json!([ty, "null"]);
        schema.insert("type".into(), both);
    }
}

/// An example inputs document: every input, with its default, `null` when
/// it may be absent, else a placeholder of its type to fill in.
pub fn inputs_template(spec: &Spec) -> Value {
    let mut doc = Map::new();
    for (name, input) in &spec.inputs {
        doc.insert(name.clone(), example(&Decl::input(input)));
    }
    Value::Object(doc)
}

fn example(decl: &Decl) -> Value {
    match (decl.default, decl.ty.optional) {
        (Some(default), _) => default.clone(),
        (None, true) => Value::Null,
        (None, false) => {
            let one = placeholder(decl);
            if decl.ty.array { json!([one]) } else { one }
        }
    }
}

fn placeholder(input: &Decl) -> Value {
    let c = &input.constraints;
    match input.ty.base {
        BaseType::String => json!(format!("<{}>", input.name)),
        BaseType::Int => json!(c.min.map_or(0, |m| m.ceil() as i64)),
        BaseType::Float => json!(c.min.unwrap_or(0.0)),
        BaseType::Boolean => json!(false),
        BaseType::Enum => json!(c.symbols.first()),
        BaseType::File => json!(format!("path/or/uri/of/{}", input.name)),
        BaseType::Directory => json!(format!("path/or/uri/of/{}/", input.name)),
        BaseType::Record => Value::Object(
            c.fields
                .iter()
                .map(|f| (f.name.clone(), example(&Decl::field(f))))
                .collect(),
        ),
    }
}

//! Stages remote File and Directory inputs (`s3://`, `azureblob://`) into
//! `<workdir>/inputs/` before the command runs.
//!
//! Local paths and `file://` URIs are used where they are, never copied.
//! The staged copy keeps its original basename; `location` keeps the URI.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::Error;
use crate::inputs::Inputs;
use crate::runtime::sibling_uri;
use crate::spec::{BaseType, InputSpec, Spec};
use crate::store::{Scheme, Store, StoreUri};

/// Downloads every remote input; returns the inputs with local `path`s.
pub async fn stage(spec: &Spec, inputs: &Inputs, workdir: &Path) -> Result<Inputs, Error> {
    let mut stores = Stores::default();
    let mut out = Inputs::new();
    for (name, value) in inputs {
        let Some(input) = spec.inputs.get(name) else {
            continue;
        };
        if !input.ty.base.is_path() {
            out.insert(name.clone(), value.clone());
            continue;
        }
        let staged = match value {
            Value::Array(items) => {
                let mut staged = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let dir = workdir.join("inputs").join(name).join(i.to_string());
                    staged.push(
                        stage_one(
                            &mut stores,
                            input,
                            item,
                            &dir,
                            &format!("inputs.{name}[{i}]"),
                        )
                        .await?,
                    );
                }
                Value::Array(staged)
            }
            Value::Null => Value::Null,
            item => {
                let dir = workdir.join("inputs").join(name);
                stage_one(&mut stores, input, item, &dir, &format!("inputs.{name}")).await?
            }
        };
        out.insert(name.clone(), staged);
    }
    Ok(out)
}

/// One opened store per bucket or container for the whole staging pass,
/// so that credentials (IMDS, ECS, workload identity) are fetched once.
#[derive(Default)]
struct Stores(HashMap<(Scheme, String), Store>);

impl Stores {
    fn open(&mut self, uri: &StoreUri) -> Result<Store, Error> {
        let key = (uri.scheme, uri.root.clone());
        if let Some(store) = self.0.get(&key) {
            return Ok(store.clone());
        }
        let store = Store::open(uri)?;
        self.0.insert(key, store.clone());
        Ok(store)
    }
}

async fn stage_one(
    stores: &mut Stores,
    input: &InputSpec,
    value: &Value,
    dir: &Path,
    json_path: &str,
) -> Result<Value, Error> {
    if value.get("path").is_some() {
        return Ok(value.clone());
    }
    let Some(uri_text) = value.get("location").and_then(Value::as_str) else {
        return Ok(value.clone());
    };
    let uri = StoreUri::parse(uri_text)?;
    let store = stores.open(&uri)?;
    let basename = uri.key.rsplit('/').next().unwrap_or_default().to_string();
    if basename.is_empty() {
        return Err(Error::InputMissing(format!(
            "{json_path}: \"{uri_text}\" names no object"
        )));
    }
    let local = dir.join(&basename);
    let missing = || Error::InputMissing(format!("{json_path}: \"{uri_text}\" does not exist"));

    if input.ty.base == BaseType::Directory {
        let prefix = format!("{}/", uri.key);
        let keys = store.list(&uri.key).await?;
        if keys.is_empty() {
            return Err(missing());
        }
        for key in keys {
            let Some(relative) = key.strip_prefix(&prefix) else {
                continue;
            };
            let target = safe_join(&local, relative).ok_or_else(|| {
                Error::InputMissing(format!(
                    "{json_path}: object \"{key}\" would land outside the work directory"
                ))
            })?;
            store.download(&key, &target).await?;
        }
        if !local.exists() {
            std::fs::create_dir_all(&local).map_err(|err| {
                Error::internal(format!("cannot create {}", local.display()), err)
            })?;
        }
    } else {
        if !store.download(&uri.key, &local).await? {
            return Err(missing());
        }
        for secondary in &input.secondary_files {
            let name = secondary.apply(&basename);
            let Some(sec_uri) = sibling_uri(uri_text, &name) else {
                continue;
            };
            let sec = StoreUri::parse(&sec_uri)?;
            let found = store.download(&sec.key, &dir.join(&name)).await?;
            if !found && secondary.required {
                return Err(Error::InputMissing(format!(
                    "{json_path}: secondary file \"{sec_uri}\" (pattern \"{}\") does not exist",
                    secondary.pattern
                )));
            }
        }
    }
    let mut staged = value.clone();
    if let Value::Object(map) = &mut staged {
        map.insert("path".into(), local.display().to_string().into());
    }
    Ok(staged)
}

/// `base/relative`, refusing keys that would climb out of `base`.
fn safe_join(base: &Path, relative: &str) -> Option<PathBuf> {
    let mut path = base.to_path_buf();
    for part in relative.split('/') {
        match part {
            "" | "." => {}
            ".." => return None,
            part => path.push(part),
        }
    }
    Some(path)
}

//! The specs compiled into the binary, so that a bundled tool runs from any
//! directory and inside any image. A spec file on disk always wins over a
//! built-in one of the same id.

use std::path::{Path, PathBuf};

use super::{Spec, load, parse};
use crate::contract::SpecRef;
use crate::error::Error;

/// Every built-in spec: its id and text.
pub const BUILTIN: &[(&str, &str)] = &[
    ("blastn", include_str!("../../tool-specs/blastn.yaml")),
    ("bwa_index", include_str!("../../tool-specs/bwa_index.yaml")),
    ("bwa_mem", include_str!("../../tool-specs/bwa_mem.yaml")),
    ("echo_test", include_str!("../../tool-specs/echo_test.yaml")),
    (
        "makeblastdb",
        include_str!("../../tool-specs/makeblastdb.yaml"),
    ),
    (
        "samtools_faidx",
        include_str!("../../tool-specs/samtools_faidx.yaml"),
    ),
    (
        "samtools_index",
        include_str!("../../tool-specs/samtools_index.yaml"),
    ),
    (
        "samtools_sort",
        include_str!("../../tool-specs/samtools_sort.yaml"),
    ),
    (
        "seqkit_stats",
        include_str!("../../tool-specs/seqkit_stats.yaml"),
    ),
];

/// The text of the built-in spec `id`.
pub fn text(id: &str) -> Option<&'static str> {
    BUILTIN
        .iter()
        .find(|(name, _)| *name == id)
        .map(|(_, t)| *t)
}

/// How messages and results.json name a built-in spec.
pub fn source(id: &str) -> String {
    format!("builtin:{id}")
}

/// Where a spec comes from: the file named, the file in the specs
/// directory, or the built-in one.
pub enum Found {
    File(PathBuf),
    Builtin(&'static str, &'static str),
}

pub fn find(spec: &SpecRef) -> Option<Found> {
    match spec {
        SpecRef::File(path) => Some(Found::File(path.clone())),
        SpecRef::Tool { dir, id } => {
            let path = dir.join(format!("{id}.yaml"));
            if path.exists() {
                return Some(Found::File(path));
            }
            BUILTIN
                .iter()
                .find(|(name, _)| name == id)
                .map(|(name, text)| Found::Builtin(name, text))
        }
    }
}

/// Reads the spec a run names: a missing one is a usage error that lists
/// the tools there are, a broken one invalid_spec.
pub fn load_for_run(spec: &SpecRef) -> Result<Spec, Error> {
    match find(spec) {
        Some(Found::File(path)) => load_file(&path),
        Some(Found::Builtin(id, text)) => parse(text, &source(id)).map_err(Error::InvalidSpec),
        None => Err(missing(spec)),
    }
}

fn load_file(path: &Path) -> Result<Spec, Error> {
    if !path.exists() {
        return Err(Error::Usage(format!("no spec at {}", path.display())));
    }
    load(path).map_err(Error::InvalidSpec)
}

/// "No such tool", with the tools there are and a guess.
fn missing(spec: &SpecRef) -> Error {
    let SpecRef::Tool { dir, id } = spec else {
        return Error::Usage("no spec".into());
    };
    let mut tools: Vec<String> = BUILTIN.iter().map(|(name, _)| name.to_string()).collect();
    if let Ok(entries) = std::fs::read_dir(dir) {
        tools.extend(entries.filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".yaml").map(str::to_string)
        }));
    }
    tools.sort();
    tools.dedup();
    let hint = crate::suggest::did_you_mean(id, tools.iter().map(String::as_str))
        .map(|h| format!("; {h}"))
        .unwrap_or_default();
    Error::Usage(format!(
        "no tool `{id}`: not in {} and not built in (tools: {}){hint}; specs are found by --spec, or as <specs-dir>/<TOOL_ID>.yaml with --specs-dir, $OMNI_TOOL_SPECS or ./tool-specs",
        dir.display(),
        tools.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bundled_spec_is_built_in_and_valid() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tool-specs");
        let mut bundled: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| {
                let name = e.ok()?.file_name().into_string().ok()?;
                name.strip_suffix(".yaml").map(str::to_string)
            })
            .collect();
        bundled.sort();
        let built_in: Vec<&str> = BUILTIN.iter().map(|(id, _)| *id).collect();
        assert_eq!(bundled, built_in, "tool-specs/ and BUILTIN differ");
        for (id, text) in BUILTIN {
            let spec = parse(text, &source(id)).unwrap();
            assert_eq!(spec.id, *id);
        }
    }
}

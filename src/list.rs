//! `omni-launch list`: the tools a specs directory and the binary offer,
//! where each comes from, and warnings for specs that a TOOL_ID lookup
//! would not find as their author expects.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::code;
use crate::spec::builtin::BUILTIN;

/// What `list` prints: its table on stdout, warnings on stderr.
pub struct Outcome {
    pub stdout: String,
    pub warnings: Vec<String>,
    pub code: i32,
}

struct Row {
    id: String,
    version: String,
    source: String,
    description: String,
}

/// Lists `dir` (if it exists; `explicit`: the user named it) and the
/// built-in specs that no file there overrides.
pub fn list(dir: &Path, explicit: bool) -> Outcome {
    let mut rows = Vec::new();
    let mut warnings = Vec::new();
    let mut broken = false;
    let paths = match specs_in(dir) {
        Ok(paths) => paths,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound && !explicit => Vec::new(),
        Err(err) => {
            warnings.push(format!(
                "cannot read specs directory {}: {err}",
                dir.display()
            ));
            broken = true;
            Vec::new()
        }
    };
    let mut ids: HashMap<String, PathBuf> = HashMap::new();
    for path in &paths {
        let spec = match crate::spec::load(path) {
            Ok(spec) => spec,
            Err(problems) => {
                broken = true;
                warnings.push(format!(
                    "{} is invalid ({} problem{}); run `omni-launch validate {}`",
                    path.display(),
                    problems.len(),
                    if problems.len() == 1 { "" } else { "s" },
                    path.display()
                ));
                continue;
            }
        };
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let yml = path.extension().is_some_and(|e| e == "yml");
        if yml {
            warnings.push(format!(
                "{} is found only by --spec: a TOOL_ID is looked up as {}.yaml",
                path.display(),
                spec.id
            ));
        } else if stem != spec.id {
            warnings.push(format!(
                "{} declares id `{}`: TOOL_ID={} looks for {}.yaml, and TOOL_ID={stem} would refuse it",
                path.display(),
                spec.id,
                spec.id,
                spec.id
            ));
        }
        if let Some(first) = ids.insert(spec.id.clone(), path.clone()) {
            warnings.push(format!(
                "{} and {} both declare id `{}`",
                first.display(),
                path.display(),
                spec.id
            ));
        }
        rows.push(Row {
            id: spec.id,
            version: spec.version.unwrap_or_else(|| "-".into()),
            source: path.display().to_string(),
            description: first_line(spec.description.as_deref()),
        });
    }
    for (id, text) in BUILTIN {
        if dir.join(format!("{id}.yaml")).exists() {
            continue;
        }
        if let Ok(spec) = crate::spec::parse(text, &crate::spec::builtin::source(id)) {
            rows.push(Row {
                id: spec.id,
                version: spec.version.unwrap_or_else(|| "-".into()),
                source: "built-in".into(),
                description: first_line(spec.description.as_deref()),
            });
        }
    }
    rows.sort_by(|a, b| a.id.cmp(&b.id));
    let width = |f: fn(&Row) -> &str| rows.iter().map(|r| f(r).len()).max().unwrap_or(0);
    let (id_w, ver_w, src_w) = (
        width(|r| &r.id),
        width(|r| &r.version),
        width(|r| &r.source),
    );
    let mut stdout = String::new();
    for r in &rows {
        let line = format!(
            "{:id_w$}  {:ver_w$}  {:src_w$}  {}",
            r.id, r.version, r.source, r.description
        );
        stdout.push_str(line.trim_end());
        stdout.push('\n');
    }
    Outcome {
        stdout,
        warnings,
        code: if broken { code::CONFIG } else { 0 },
    }
}

fn first_line(text: Option<&str>) -> String {
    text.unwrap_or_default()
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Every `*.yaml` / `*.yml` in a directory, sorted.
pub fn specs_in(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .is_some_and(|ext| ext == "yaml" || ext == "yml")
        })
        .collect();
    paths.sort();
    Ok(paths)
}

//! `omni-launch validate`: static checks of specs, and optionally an inputs
//! document, reporting every problem of every file at once.

use std::path::PathBuf;

use serde::Serialize;

use crate::diag::{Format, Problem, github_line};
use crate::error::code;
use crate::inputs;
use crate::spec::{self, Spec};
use crate::value::PathCheck;

pub struct Request {
    pub specs: Vec<PathBuf>,
    pub inputs: Option<crate::contract::Document>,
    pub check_binaries: bool,
    pub format: Format,
}

#[derive(Serialize)]
struct FileReport {
    file: String,
    id: Option<String>,
    valid: bool,
}

#[derive(Serialize)]
struct Report<'a> {
    valid: bool,
    files: Vec<FileReport>,
    problems: &'a [Problem],
}

/// What validate prints on stdout, and its exit code.
pub struct Outcome {
    pub stdout: String,
    pub code: i32,
}

pub fn validate(req: &Request) -> Outcome {
    let mut problems: Vec<Problem> = Vec::new();
    let mut files = Vec::new();
    let mut specs: Vec<Spec> = Vec::new();
    let mut spec_invalid = false;

    for path in &req.specs {
        let before = problems.len();
        match spec::load(path) {
            Ok(spec) => {
                if req.check_binaries {
                    for missing in spec::missing_binaries(&spec) {
                        let mut d = Problem::new(
                            "requirements.binaries",
                            format!("`{missing}` is not on PATH"),
                        )
                        .in_file(&spec.source);
                        if let Some(loc) = spec.requirements.binaries_loc {
                            d = d.at(loc);
                        }
                        problems.push(d);
                    }
                }
                files.push(FileReport {
                    file: path.display().to_string(),
                    id: Some(spec.id.clone()),
                    valid: problems.len() == before,
                });
                specs.push(spec);
            }
            Err(found) => {
                problems.extend(found);
                files.push(FileReport {
                    file: path.display().to_string(),
                    id: None,
                    valid: false,
                });
            }
        }
        spec_invalid |= problems.len() > before;
    }

    let mut inputs_invalid = false;
    if let Some(doc) = &req.inputs {
        let source = doc.file();
        match doc.parse_value() {
            Err(message) => {
                inputs_invalid = true;
                problems.push(Problem::new("", message).in_file_if(source));
            }
            Ok(value) => {
                let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
                for spec in &specs {
                    let checked = inputs::validate(
                        spec,
                        &value,
                        PathCheck {
                            must_exist: true,
                            base_dir: &cwd,
                        },
                    );
                    if let Err(found) = checked {
                        inputs_invalid = true;
                        problems.extend(found.into_iter().map(|p| {
                            let mut d = inputs::problem(p).in_file_if(source);
                            if specs.len() > 1 {
                                d.message = format!("{} (spec {})", d.message, spec.id);
                            }
                            d
                        }));
                    }
                }
            }
        }
    }

    let code = if spec_invalid {
        code::CONFIG
    } else if inputs_invalid {
        code::DATAERR
    } else {
        0
    };
    let stdout = match req.format {
        Format::Json => {
            let mut text = serde_json::to_string_pretty(&Report {
                valid: code == 0,
                files,
                problems: &problems,
            })
            .unwrap_or_default();
            text.push('\n');
            text
        }
        Format::Github => problems.iter().map(|d| github_line(d) + "\n").collect(),
        Format::Text => {
            let mut out: String = problems.iter().map(|d| format!("{d}\n")).collect();
            let invalid = files.iter().filter(|f| !f.valid).count();
            out.push_str(&format!(
                "{} spec{} checked: {} valid, {invalid} invalid; {} problem{}\n",
                files.len(),
                plural(files.len()),
                files.len() - invalid,
                problems.len(),
                plural(problems.len()),
            ));
            out
        }
    };
    Outcome { stdout, code }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

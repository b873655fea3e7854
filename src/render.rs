//! Stage 6: renders a spec's command (or argv) and env templates against
//! the template context (DESIGN.md §5) into exactly what will run.
//!
//! `run` and the `render` command both come here, so they can never
//! disagree about a command. Quoting itself is `template`'s; this module
//! must not execute anything.

use std::path::Path;

use serde::Serialize;

use crate::diag::Problem;
use crate::error::Error;
use crate::inputs::{Inputs, Resources};
use crate::spec::{Command, Spec};
use crate::template;

/// The rendered command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rendered {
    Shell(String),
    Argv(Vec<String>),
}

impl Rendered {
    /// The command as one line, as results.json and `render` show it.
    pub fn display(&self) -> String {
        match self {
            Rendered::Shell(text) => text.clone(),
            Rendered::Argv(args) => args
                .iter()
                .map(|a| template::quote(a))
                .collect::<Vec<_>>()
                .join(" "),
        }
    }

    /// The program and its arguments (`/bin/sh -c …` for a shell command).
    pub fn argv(&self) -> Vec<String> {
        match self {
            Rendered::Shell(text) => vec!["/bin/sh".into(), "-c".into(), text.clone()],
            Rendered::Argv(args) => args.clone(),
        }
    }

    pub fn is_shell(&self) -> bool {
        matches!(self, Rendered::Shell(_))
    }
}

/// What will run: the command and the tool's extra environment.
#[derive(Debug)]
pub struct Plan {
    pub command: Rendered,
    pub env: Vec<(String, String)>,
}

/// The template context: every input by name, `inputs`, `resources`,
/// `run_id`, `tool_id`, `workdir`.
#[derive(Serialize)]
struct Context<'a> {
    #[serde(flatten)]
    by_name: &'a Inputs,
    inputs: &'a Inputs,
    resources: &'a Resources,
    run_id: &'a str,
    tool_id: &'a str,
    workdir: String,
}

/// Renders the command and the env templates of a spec.
pub fn render(
    spec: &Spec,
    inputs: &Inputs,
    resources: &Resources,
    run_id: &str,
    workdir: &Path,
) -> Result<Plan, Error> {
    let ctx = minijinja::Value::from(minijinja::value::Serde(Context {
        by_name: inputs,
        inputs,
        resources,
        run_id,
        tool_id: &spec.id,
        workdir: workdir.display().to_string(),
    }));
    // Inputs were validated already, so a template that fails to render is
    // the spec's fault (a filter misused, an attribute that is not there).
    let template_error = |path: &str, err: minijinja::Error| {
        Error::InvalidSpec(vec![
            Problem::new(path, template::describe_error(&err)).in_file(&spec.source),
        ])
    };
    let command = match &spec.command {
        Command::Shell(source) => template::shell(source, &ctx)
            .map(Rendered::Shell)
            .map_err(|err| template_error("command", err))?,
        Command::Argv(sources) => template::argv(sources, &ctx)
            .map(Rendered::Argv)
            .map_err(|err| template_error("argv", err))?,
    };
    let mut env = Vec::new();
    for (name, source) in &spec.env {
        let value = template::env_value(source, &ctx)
            .map_err(|err| template_error(&format!("env.{name}"), err))?;
        env.push((name.clone(), value));
    }
    Ok(Plan { command, env })
}

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
    // Rendering runs under a memory budget (`template::bounded`).
    let command = spec.command.clone();
    let env_templates: Vec<(String, String)> = spec
        .env
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    // Templates that can only copy their values render here when those
    // copies stay well inside the budget; the others on a budgeted worker.
    let sources = match &command {
        Command::Shell(source) => std::slice::from_ref(source),
        Command::Argv(sources) => sources.as_slice(),
    };
    let copies = sources
        .iter()
        .chain(env_templates.iter().map(|(_, source)| source))
        .map(|source| template::copies_only(source))
        .try_fold(0usize, |total, copies| Some(total.saturating_add(copies?)));
    let inline = copies.is_some_and(|copies| {
        // Quoting, escaping and splitting a string into characters make a
        // value larger in memory, by a small factor.
        copies.saturating_mul(json_size(inputs)).saturating_mul(32) < template::BUDGET
    });
    let work = move || {
        let command = match &command {
            Command::Shell(source) => template::shell(source, &ctx)
                .map(Rendered::Shell)
                .map_err(|err| ("command".to_string(), err))?,
            Command::Argv(sources) => template::argv(sources, &ctx)
                .map(Rendered::Argv)
                .map_err(|err| ("argv".to_string(), err))?,
        };
        let mut env = Vec::new();
        for (name, source) in env_templates {
            let value = template::env_value(&source, &ctx)
                .map_err(|err| (format!("env.{name}"), template::Failure::Template(err)))?;
            env.push((name, value));
        }
        Ok(Plan { command, env })
    };
    let rendered = if inline {
        Ok(work())
    } else {
        template::bounded(work)
    };
    // Inputs were validated already, so a template that fails to render is
    // the spec's fault (a filter misused, an attribute that is not there).
    let problem = |path: &str, message: String| {
        Error::InvalidSpec(vec![Problem::new(path, message).in_file(&spec.source)])
    };
    match rendered {
        Ok(Ok(plan)) => Ok(plan),
        Ok(Err((path, template::Failure::Template(err)))) => {
            Err(problem(&path, template::describe_error(&err)))
        }
        Ok(Err((path, template::Failure::Refused(template::Refusal::Spec(why))))) => {
            Err(problem(&path, why))
        }
        Ok(Err((path, template::Failure::Refused(template::Refusal::Input(why))))) => {
            Err(Error::InvalidInputs(vec![Problem::new(path, why)]))
        }
        Err(template::Unfinished::Exceeded) => Err(problem(
            "command",
            format!(
                "rendering the templates took more than {} MiB of memory; they were stopped",
                template::BUDGET >> 20
            ),
        )),
        Err(template::Unfinished::Failed) => {
            Err(Error::Internal("the template renderer failed".into()))
        }
    }
}

/// The size of a value as JSON, counted without writing it anywhere.
fn json_size(value: &impl Serialize) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len();
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    match serde_json::to_writer(&mut count, value) {
        Ok(()) => count.0,
        Err(_) => usize::MAX,
    }
}

//! One full run (DESIGN.md §1): contract → spec → inputs → stage → runtime →
//! render → exec → collect → results → store.
//!
//! This module only sequences the stages and decides what results.json says
//! on each path; every stage's logic lives in its own module.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde_json::{Map, Value};

use crate::contract::{Contract, Document, Env, RunRequest};
use crate::diag::Diagnostic;
use crate::error::Error;
use crate::exec::{self, Interrupts, Job, Status, Stop};
use crate::inputs::{self, Inputs, PathCheck, Resources};
use crate::render::{self, Rendered};
use crate::results::{Results, SpecInfo};
use crate::spec::{self, Command, Spec};
use crate::store::{ResultTarget, Store};

/// What a run produced: results.json (once the contract was read), the
/// error it ended with, and lines for stderr.
pub struct RunOutput {
    pub results: Option<Results>,
    pub error: Option<Error>,
    pub notes: Vec<String>,
}

/// Runs one job end to end.
pub fn run(req: RunRequest, env: &dyn Env) -> RunOutput {
    let started = Utc::now();
    let contract = match Contract::read(req, env) {
        Ok(c) => c,
        Err(error) => {
            return RunOutput {
                results: None,
                error: Some(error),
                notes: Vec::new(),
            };
        }
    };
    let tool_id = contract.tool_id.clone().unwrap_or_else(|| {
        contract
            .spec_path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    let mut results = Results::new(tool_id, contract.run_id.clone(), &contract.runner, started);
    let mut notes = Vec::new();

    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            return failed(
                results,
                Error::internal("cannot start the runtime", err),
                started,
            );
        }
    };
    // From here on a signal ends the run with results.json, whatever stage
    // it interrupts.
    let interrupts = {
        let _context = runtime.enter();
        Interrupts::new()
    };
    let mut interrupts = match interrupts {
        Ok(i) => i,
        Err(error) => return failed(results, error, started),
    };
    let workdir = match make_workdir(&contract) {
        Ok(w) => w,
        Err(error) => return failed(results, error, started),
    };
    results.workdir = Some(workdir.display().to_string());

    let mut pipeline = Pipeline {
        contract: &contract,
        workdir: &workdir,
        runtime: &runtime,
        interrupts: &mut interrupts,
        results: &mut results,
    };
    let mut error = pipeline.execute().err();
    let mut stored = false;
    match &contract.result {
        Some(target) => {
            let mut upload = Upload {
                target,
                runtime: &runtime,
                interrupts: &mut interrupts,
                results: &mut results,
                started,
            };
            match upload.store(error.as_ref()) {
                Ok(()) => stored = true,
                Err(err) => error = Some(err),
            }
        }
        None => results.finish(error.as_ref(), started),
    }

    let local = workdir.join("results.json");
    if let Err(err) = std::fs::write(&local, results.to_json()) {
        notes.push(format!("cannot write {}: {err}", local.display()));
    }
    match (&contract.result, stored) {
        (Some(target), true) => {
            if !contract.keep_workdir && error.is_none() {
                let _ = std::fs::remove_dir_all(&workdir);
            } else {
                notes.push(format!("work directory kept: {}", workdir.display()));
            }
            notes.push(format!(
                "results stored at {}",
                target.uri.uri_of(&target.results_key)
            ));
        }
        (Some(_), false) => notes.push(format!(
            "results.json could not be stored; it is kept at {}",
            local.display()
        )),
        (None, _) => notes.push(format!("results.json written to {}", local.display())),
    }
    RunOutput {
        results: Some(results),
        error,
        notes,
    }
}

/// Stores a finished run: outputs first, results.json last, so that its
/// presence means the outputs are complete.
struct Upload<'a> {
    target: &'a ResultTarget,
    runtime: &'a tokio::runtime::Runtime,
    interrupts: &'a mut Interrupts,
    results: &'a mut Results,
    started: DateTime<Utc>,
}

impl Upload<'_> {
    /// `error`: how the run ended so far. Outputs go up only after a
    /// success; results.json always, unless the store cannot be reached.
    /// An `Err` is the store's failure, which then ends the run; the
    /// results are finished with it.
    fn store(&mut self, error: Option<&Error>) -> Result<(), Error> {
        let target = self.target;
        let results = &mut *self.results;
        let opened = self.runtime.block_on(self.interrupts.guard(async {
            let store = Store::open(&target.uri)?;
            if error.is_none() {
                upload_outputs(&store, target, results).await?;
            }
            Ok::<_, Error>(store)
        }));
        let store = match opened {
            Ok(store) => store,
            Err(err) => {
                self.results.finish(Some(&err), self.started);
                return Err(err);
            }
        };
        self.results.finish(error, self.started);
        let body = self.results.to_json().into_bytes();
        let put = store.put_bytes(&target.results_key, body, "application/json");
        if let Err(err) = self.runtime.block_on(self.interrupts.guard(put)) {
            self.results.finish(Some(&err), self.started);
            return Err(err);
        }
        Ok(())
    }
}

fn failed(mut results: Results, error: Error, started: DateTime<Utc>) -> RunOutput {
    results.finish(Some(&error), started);
    RunOutput {
        results: Some(results),
        error: Some(error),
        notes: Vec::new(),
    }
}

/// `<base>/<run_id>` (made unique), base `--workdir` or `$TMPDIR/omni-launch`.
/// The directory is the run's own: it is removed after a stored run.
fn make_workdir(contract: &Contract) -> Result<PathBuf, Error> {
    let base = contract
        .workdir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("omni-launch"));
    std::fs::create_dir_all(&base).map_err(|err| {
        Error::Usage(format!(
            "cannot create work directory base {}: {err}",
            base.display()
        ))
    })?;
    let base = base
        .canonicalize()
        .map_err(|err| Error::Usage(format!("cannot resolve {}: {err}", base.display())))?;
    let plain = base.join(&contract.run_id);
    let dir = match std::fs::create_dir(&plain) {
        Ok(()) => plain,
        // A retry of the same run on the same machine gets its own directory.
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => tempfile::Builder::new()
            .prefix(&format!("{}-", contract.run_id))
            .tempdir_in(&base)
            .map_err(|err| Error::internal("cannot create the work directory", err))?
            .keep(),
        Err(err) => {
            return Err(Error::Usage(format!(
                "cannot create work directory {}: {err}",
                plain.display()
            )));
        }
    };
    std::fs::create_dir_all(dir.join(".omni-launch"))
        .map_err(|err| Error::internal("cannot create the work directory", err))?;
    Ok(dir)
}

struct Pipeline<'a> {
    contract: &'a Contract,
    workdir: &'a Path,
    runtime: &'a tokio::runtime::Runtime,
    interrupts: &'a mut Interrupts,
    results: &'a mut Results,
}

impl Pipeline<'_> {
    fn execute(&mut self) -> Result<(), Error> {
        let spec = load_spec(&self.contract.spec_path)?;
        self.results.tool_id = spec.id.clone();
        self.results.spec = Some(SpecInfo {
            id: spec.id.clone(),
            version: spec.version.clone(),
            sha256: spec.sha256.clone(),
            path: spec.source.clone(),
        });
        if let Some(id) = &self.contract.tool_id
            && *id != spec.id
        {
            return Err(Error::Usage(format!(
                "TOOL_ID is `{id}` but the spec {} is for `{}`",
                spec.source, spec.id
            )));
        }
        let cwd = std::env::current_dir()
            .map_err(|err| Error::internal("cannot read the current directory", err))?;
        let (inputs, resources) =
            check_inputs(&spec, &self.contract.inputs, &self.contract.resources, &cwd)?;
        self.results.inputs = inputs.clone();
        self.results.resources = Some(resources.clone());

        let mut runner = exec::runner(&self.contract.runner)?;
        if runner.name() == "local" {
            let missing = spec::missing_binaries(&spec);
            if !missing.is_empty() {
                return Err(Error::NotFound(format!(
                    "required program{} not on PATH: {}",
                    if missing.len() > 1 { "s" } else { "" },
                    missing.join(", ")
                )));
            }
        }

        let staged = self
            .runtime
            .block_on(
                self.interrupts
                    .guard(crate::stage::stage(&spec, &inputs, self.workdir)),
            )?;
        let runtime_inputs = crate::runtime::runtimeify(&spec, &staged)?;
        self.results.inputs = runtime_inputs.clone();

        let ctx = context(
            &spec,
            &runtime_inputs,
            &resources,
            &self.contract.run_id,
            self.workdir,
        );
        let (rendered, env) = render_all(&spec, &ctx)?;
        self.results.command = Some(rendered.display());

        let meta = self.workdir.join(".omni-launch");
        let job = Job {
            argv: match rendered {
                Rendered::Shell(text) => vec!["/bin/sh".into(), "-c".into(), text],
                Rendered::Argv(args) => args,
            },
            env,
            workdir: self.workdir.to_path_buf(),
            stdout_path: meta.join("stdout"),
            stderr_path: meta.join("stderr"),
            timeout: self.contract.timeout.or(resources
                .time_limit_s
                .filter(|&s| s > 0)
                .map(std::time::Duration::from_secs)),
            grace: grace(),
        };
        runner.set_up(&job)?;
        let outcome = self.runtime.block_on(runner.exec(&job, self.interrupts));
        runner.tear_down(&job)?;
        let outcome = outcome?;
        self.results.usage = Some(outcome.usage);

        match (outcome.stopped, outcome.status) {
            (Some(Stop::Timeout), _) => {
                return Err(Error::Timeout(job.timeout.map_or(0, |t| t.as_secs())));
            }
            (Some(Stop::Signal(signal)), _) => {
                return Err(Error::Signalled {
                    signal,
                    by_launcher: true,
                });
            }
            (None, Status::Signalled(signal)) => {
                return Err(Error::Signalled {
                    signal,
                    by_launcher: false,
                });
            }
            (None, Status::Exited(0)) => {}
            // `sh -c` says 127 / 126 when the command cannot be found / run.
            (None, Status::Exited(127)) if matches!(spec.command, Command::Shell(_)) => {
                return Err(Error::NotFound(
                    "the shell could not find the command (exit 127); see the tool's stderr".into(),
                ));
            }
            (None, Status::Exited(126)) if matches!(spec.command, Command::Shell(_)) => {
                return Err(Error::NotExecutable(
                    "the shell could not execute the command (exit 126); see the tool's stderr"
                        .into(),
                ));
            }
            (None, Status::Exited(code)) => return Err(Error::ToolFailed(code)),
        }

        self.results.results = crate::collect::collect(
            &spec,
            &crate::collect::Places {
                workdir: self.workdir,
                stdout: &job.stdout_path,
                stderr: &job.stderr_path,
            },
            self.contract.result.is_none(),
        )?;
        Ok(())
    }
}

/// The kill grace period: `OMNI_KILL_GRACE_S`, default 10 s.
fn grace() -> std::time::Duration {
    std::time::Duration::from_secs(
        std::env::var("OMNI_KILL_GRACE_S")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10),
    )
}

/// Loads a spec; a missing file is a usage error, a broken one invalid_spec.
pub fn load_spec(path: &Path) -> Result<Spec, Error> {
    if !path.exists() {
        return Err(Error::Usage(format!(
            "no spec at {} (specs are found by --spec, or as <specs-dir>/<TOOL_ID>.yaml with --specs-dir, $OMNI_TOOL_SPECS or ./tool-specs)",
            path.display()
        )));
    }
    spec::load(path).map_err(Error::InvalidSpec)
}

/// Validates INPUTS_JSON and RESOURCES_JSON against the spec.
pub fn check_inputs(
    spec: &Spec,
    inputs_doc: &Document,
    resources_doc: &Document,
    cwd: &Path,
) -> Result<(Inputs, Resources), Error> {
    let doc = inputs_doc.parse()?;
    let res_doc = resources_doc.parse()?;
    let checked = inputs::validate(
        spec,
        &doc,
        PathCheck {
            must_exist: true,
            base_dir: cwd,
        },
    );
    let resources = inputs::resources(spec, &res_doc);
    let mut problems: Vec<(Diagnostic, bool)> = Vec::new();
    let mut add = |found: Vec<inputs::Problem>, doc: &Document| {
        for problem in found {
            let missing = problem.missing;
            problems.push((problem.into_diagnostic().in_file_if(doc.file()), missing));
        }
    };
    let (values, resources) = match (checked, resources) {
        (Ok(values), Ok(resources)) => return Ok((values, resources)),
        (values, resources) => (values, resources),
    };
    if let Err(found) = values {
        add(found, inputs_doc);
    }
    if let Err(found) = resources {
        add(found, resources_doc);
    }
    Err(classify(problems))
}

/// Only missing files: input_missing (66); anything else: invalid_inputs (65).
pub fn classify(problems: Vec<(Diagnostic, bool)>) -> Error {
    let all_missing = problems.iter().all(|(_, missing)| *missing);
    let diagnostics: Vec<Diagnostic> = problems.into_iter().map(|(d, _)| d).collect();
    if all_missing {
        Error::InputMissing(
            diagnostics
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        )
    } else {
        Error::InvalidInputs(diagnostics)
    }
}

/// The template context (DESIGN.md §5).
pub fn context(
    spec: &Spec,
    inputs: &Inputs,
    resources: &Resources,
    run_id: &str,
    workdir: &Path,
) -> minijinja::Value {
    let mut ctx = Map::new();
    for (name, value) in inputs {
        ctx.insert(name.clone(), value.clone());
    }
    ctx.insert(
        "inputs".into(),
        Value::Object(inputs.clone().into_iter().collect()),
    );
    ctx.insert(
        "resources".into(),
        serde_json::to_value(resources).unwrap_or(Value::Null),
    );
    ctx.insert("run_id".into(), run_id.into());
    ctx.insert("tool_id".into(), spec.id.clone().into());
    ctx.insert("workdir".into(), workdir.display().to_string().into());
    minijinja::Value::from(minijinja::value::Serde(&ctx))
}

/// Renders the command and the env templates.
pub fn render_all(
    spec: &Spec,
    ctx: &minijinja::Value,
) -> Result<(Rendered, Vec<(String, String)>), Error> {
    // Inputs were validated already, so a template that fails to render is
    // the spec's fault (a filter misused, an attribute that is not there).
    let template_error = |path: &str, err: minijinja::Error| {
        let message = crate::spec::template::describe_error(&err);
        Error::InvalidSpec(vec![Diagnostic::new(path, message).in_file(&spec.source)])
    };
    let rendered = render::command(&spec.command, ctx).map_err(|err| {
        let path = match spec.command {
            Command::Shell(_) => "command",
            Command::Argv(_) => "argv",
        };
        template_error(path, err)
    })?;
    let mut env = Vec::new();
    for (name, source) in &spec.env {
        let value = render::env_value(source, ctx)
            .map_err(|err| template_error(&format!("env.{name}"), err))?;
        env.push((name.clone(), value));
    }
    Ok((rendered, env))
}

fn content_type(name: &str) -> &'static str {
    match name
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
    {
        Some(ext) => match ext.as_str() {
            "json" => "application/json",
            "txt" | "log" | "tsv" | "csv" | "fa" | "fasta" | "fastq" | "sam" | "vcf" | "bed"
            | "gff" => "text/plain",
            "gz" => "application/gzip",
            "html" => "text/html",
            _ => "application/octet-stream",
        },
        None => "application/octet-stream",
    }
}

/// Uploads every File output and points its `location` at the stored copy.
async fn upload_outputs(
    store: &Store,
    target: &ResultTarget,
    results: &mut Results,
) -> Result<(), Error> {
    let mut jobs: Vec<(PathBuf, String)> = Vec::new();
    let mut objects: Vec<&mut Value> = Vec::new();
    for (name, value) in results.results.iter_mut() {
        let files: Vec<&mut Value> = match value {
            Value::Array(items) => items.iter_mut().collect(),
            Value::Object(_) => vec![value],
            _ => continue,
        };
        let basenames: Vec<String> = files
            .iter()
            .filter_map(|f| {
                f.get("basename")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .collect();
        let clash = {
            let mut seen = std::collections::HashSet::new();
            !basenames.iter().all(|b| seen.insert(b))
        };
        for (i, file) in files.into_iter().enumerate() {
            if file.get("class").and_then(Value::as_str) != Some("File") {
                continue;
            }
            let (Some(path), Some(basename)) = (
                file.get("path").and_then(Value::as_str).map(PathBuf::from),
                file.get("basename")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            ) else {
                continue;
            };
            // Two matches with one basename keep their order in numbered folders.
            let leaf = if clash {
                format!("{i}/{basename}")
            } else {
                basename
            };
            let key = target.output_key(name, &leaf);
            jobs.push((path, key));
            objects.push(file);
        }
    }
    let uploads = futures::stream::iter(jobs.iter().map(|(path, key)| {
        let ct = content_type(key);
        async move { store.upload_file(path, key, Some(ct)).await }
    }))
    .buffered(4)
    .collect::<Vec<_>>()
    .await;
    for ((object, (_, key)), sha1) in objects.into_iter().zip(&jobs).zip(uploads) {
        let sha1 = sha1?;
        if let Value::Object(map) = object {
            map.insert("location".into(), store.uri.uri_of(key).into());
            // Stored outputs are hashed on the way up, in the same pass.
            map.insert("checksum".into(), format!("sha1${sha1}").into());
        }
    }
    Ok(())
}

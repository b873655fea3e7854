//! One full run (DESIGN.md §1): contract → spec → inputs → stage → runtime →
//! render → exec → collect → results → store.
//!
//! This module only sequences the stages and decides what results.json says
//! on each path; every stage's logic lives in its own module.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::Utc;
use tokio::time::Instant;

use crate::collect::Outputs;
use crate::contract::{Contract, Env, RunRequest, RunnerKind};
use crate::error::Error;
use crate::exec::{self, Interrupts, Job, Task};
use crate::results::{Results, SpecInfo};
use crate::spec::Spec;
use crate::store::Storing;
use crate::workdir::{Logs, Workdir};

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
    let clock = Instant::now();
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
    let tool_id = contract
        .tool_id
        .clone()
        .unwrap_or_else(|| contract.spec.tool_id());
    let mut results = Results::new(
        tool_id,
        contract.run_id.clone(),
        contract.runner.name(),
        started,
    );
    results.launcher.job = contract.job.clone();
    let fail = |mut results: Results, error: Error| {
        results.finish(Some(&error), None, started);
        RunOutput {
            results: Some(results),
            error: Some(error),
            notes: Vec::new(),
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => return fail(results, Error::io("cannot start the runtime", err)),
    };
    // From here on a signal ends the run with results.json, whatever stage
    // it interrupts.
    let interrupts = {
        let _context = runtime.enter();
        Interrupts::new()
    };
    let mut interrupts = match interrupts {
        Ok(i) => i,
        Err(error) => return fail(results, error),
    };

    let workdir = Workdir::create(contract.workdir.as_deref(), &contract.run_id);
    let mut error = match &workdir {
        Ok(workdir) => {
            results.workdir = Some(workdir.path().display().to_string());
            let mut pipeline = Pipeline {
                contract: &contract,
                workdir,
                runtime: &runtime,
                interrupts: &mut interrupts,
                results: &mut results,
                clock,
            };
            pipeline.execute().err()
        }
        Err(_) => None,
    };
    let workdir = match workdir {
        Ok(workdir) => Some(workdir),
        Err(err) => {
            error = Some(err);
            None
        }
    };
    let stored = match &contract.result {
        Some(target) => {
            let mut storing = Storing {
                target,
                workdir: workdir.as_ref(),
                runtime: &runtime,
                interrupts: &mut interrupts,
                grace: grace(),
                started,
            };
            match storing.store(&mut results, error.as_ref()) {
                Ok(()) => true,
                Err(err) => {
                    error = Some(err);
                    false
                }
            }
        }
        None => {
            results.finish(error.as_ref(), None, started);
            false
        }
    };

    let notes = match workdir {
        Some(workdir) => keep_or_clean(workdir, &contract, &results, stored, error.is_none()),
        None if stored => vec![format!(
            "results stored at {}",
            contract
                .result
                .as_ref()
                .map(|t| t.results_uri())
                .unwrap_or_default()
        )],
        None => Vec::new(),
    };
    RunOutput {
        results: Some(results),
        error,
        notes,
    }
}

/// Writes results.json in the work directory, then removes the directory
/// after a stored success, or keeps it and says where.
fn keep_or_clean(
    workdir: Workdir,
    contract: &Contract,
    results: &Results,
    stored: bool,
    ok: bool,
) -> Vec<String> {
    let mut notes = Vec::new();
    let local = workdir.results_path();
    let written = match workdir.write_results(&results.to_json()) {
        Ok(()) => true,
        Err(err) => {
            notes.push(format!("cannot write {}: {err}", local.display()));
            false
        }
    };
    match (&contract.result, stored) {
        (Some(target), true) => {
            if !contract.keep_workdir && ok {
                workdir.remove();
            } else {
                notes.push(format!("work directory kept: {}", workdir.path().display()));
            }
            notes.push(format!("results stored at {}", target.results_uri()));
        }
        (Some(_), false) if written => notes.push(format!(
            "results.json could not be stored; it is kept at {}",
            local.display()
        )),
        (Some(_), false) => notes.push("results.json could not be stored".into()),
        (None, _) if written => notes.push(format!("results.json written to {}", local.display())),
        (None, _) => {}
    }
    notes
}

/// The stages from spec to collected outputs, filling `results` as they go.
struct Pipeline<'a> {
    contract: &'a Contract,
    workdir: &'a Workdir,
    runtime: &'a tokio::runtime::Runtime,
    interrupts: &'a mut Interrupts,
    results: &'a mut Results,
    /// When the run started, for its time limit.
    clock: Instant,
}

impl Pipeline<'_> {
    fn execute(&mut self) -> Result<(), Error> {
        let spec = crate::spec::load_for_run(&self.contract.spec)?;
        // Documents given by URI are read first, like any input.
        let contract = self.contract;
        let inputs_doc = self
            .runtime
            .block_on(self.interrupts.guard(contract.inputs.fetch()))?;
        let resources_doc = self
            .runtime
            .block_on(self.interrupts.guard(contract.resources.fetch()))?;
        self.results.secrets = crate::inputs::secrets(&spec, &inputs_doc);
        crate::redact::mask_messages(&self.results.secrets);
        self.results.tool_id = spec.id.clone();
        self.results.spec = Some(SpecInfo::from(&spec));
        if let Some(id) = &self.contract.tool_id
            && *id != spec.id
        {
            return Err(Error::Usage(format!(
                "TOOL_ID is `{id}` but the spec {} is for `{}`",
                spec.source, spec.id
            )));
        }
        let cwd = std::env::current_dir()
            .map_err(|err| Error::io("cannot read the current directory", err))?;
        let (inputs, resources) = crate::inputs::check(&spec, &inputs_doc, &resources_doc, &cwd)?;
        self.results.inputs = inputs.clone();
        self.results.resources = Some(resources.clone());
        // `--timeout 0` and `time_limit_s: 0` both mean no limit.
        let limit = match self.contract.timeout {
            Some(secs) => Some(secs),
            None => resources.time_limit_s,
        };
        if let Some(secs) = limit.filter(|&s| s > 0) {
            self.interrupts.limit(self.clock, Duration::from_secs(secs));
        }

        let settings = exec::settings(&spec.requirements, &self.contract.container);
        let mut runner = exec::runner(self.contract.runner, settings);
        if self.contract.runner == RunnerKind::Local {
            let missing = crate::spec::missing_binaries(&spec);
            if !missing.is_empty() {
                return Err(Error::NotFound(format!(
                    "required program{} not on PATH: {}",
                    if missing.len() > 1 { "s" } else { "" },
                    missing.join(", ")
                )));
            }
        }

        let workdir = self.workdir.path();
        let staged = self.runtime.block_on(
            self.interrupts
                .guard(crate::stage::stage(&spec, &inputs, workdir)),
        )?;
        let checksums = self.contract.input_checksums;
        let inputs = self.on_worker("hashing", |stop| {
            crate::runtime::runtimeify(&spec, &staged, checksums, stop)
        })?;
        self.results.inputs = inputs.clone();

        let plan =
            crate::render::render(&spec, &inputs, &resources, &self.contract.run_id, workdir)?;
        self.results.command = Some(plan.command.display());

        let logs = self.workdir.create_logs()?;
        let keep = |file: &std::fs::File| {
            file.try_clone()
                .map_err(|err| Error::io("cannot keep the tool's output", err))
        };
        let shell = plan.command.is_shell();
        let job = Job {
            task: Task::new(
                &spec,
                plan,
                &inputs,
                &resources,
                workdir,
                &self.contract.run_id,
            ),
            stdout: keep(&logs.stdout)?,
            stderr: keep(&logs.stderr)?,
            grace: grace(),
            secrets: self.results.secrets.clone(),
        };
        let outcome = match runner.set_up(&job) {
            Ok(()) => self
                .runtime
                .block_on(runner.exec(&job, self.interrupts))
                .map_err(|err| self.with_stderr(err, &logs)),
            Err(err) => Err(err),
        };
        self.results.launcher.container = runner.container();
        runner.tear_down(&job)?;
        let outcome = outcome?;
        self.results.usage = outcome.usage;
        exec::verdict(&outcome, shell).map_err(|err| self.with_stderr(err, &logs))?;

        drop(job);
        self.results.results = self.collect(&spec, &logs)?;
        Ok(())
    }

    /// A tool that failed on its own, or a command that could not start:
    /// add the end of its stderr (where the shell or the container engine
    /// says why), and where the whole of it is kept, to the message.
    fn with_stderr(&self, err: Error, logs: &Logs) -> Error {
        let tail = crate::workdir::Logs::tail(&logs.stderr, 5);
        let kept = self.workdir.path().join(".omni-launch/stderr");
        let status = match err {
            Error::ToolFailed { status, .. } => status,
            Error::NotFound(message) if !tail.is_empty() => {
                return Error::NotFound(format!("{message}; stderr ended with: {tail}"));
            }
            Error::NotExecutable(message) if !tail.is_empty() => {
                return Error::NotExecutable(format!("{message}; stderr ended with: {tail}"));
            }
            err => return err,
        };
        let said = if tail.is_empty() {
            format!("it wrote nothing on stderr ({})", kept.display())
        } else {
            format!(
                "its stderr ended with: {tail} (all of it: {})",
                kept.display()
            )
        };
        Error::ToolFailed {
            status,
            said: Some(said),
        }
    }

    /// Collects the outputs (hashing them when nothing will upload them).
    fn collect(&mut self, spec: &Spec, logs: &Logs) -> Result<Outputs, Error> {
        let checksums = self.contract.result.is_none();
        let workdir = self.workdir;
        self.on_worker("collecting", |stop| {
            crate::collect::collect(spec, workdir, logs, checksums, stop)
        })?
        .ok_or_else(|| Error::Internal("collection stopped".into()))
    }

    /// Runs long file work (hashing) on a worker thread, so that a signal
    /// or the time limit stops it as it stops everything else: `work` is
    /// told to stop through the flag it gets.
    fn on_worker<T: Send>(
        &mut self,
        what: &str,
        work: impl FnOnce(&AtomicBool) -> Result<T, Error> + Send,
    ) -> Result<T, Error> {
        let stop = AtomicBool::new(false);
        let runtime = self.runtime;
        let interrupts = &mut *self.interrupts;
        std::thread::scope(|scope| {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let stop = &stop;
            scope.spawn(move || {
                let _ = tx.send(work(stop));
            });
            runtime.block_on(async {
                tokio::select! {
                    done = rx => done.unwrap_or_else(|_| {
                        Err(Error::Internal(format!("the {what} thread failed")))
                    }),
                    why = interrupts.next() => {
                        stop.store(true, Ordering::Relaxed);
                        Err(why.error())
                    }
                }
            })
        })
    }
}

/// The kill grace period: `OMNI_KILL_GRACE_S`, default 10 s.
fn grace() -> Duration {
    Duration::from_secs(
        std::env::var("OMNI_KILL_GRACE_S")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10),
    )
}

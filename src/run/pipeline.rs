//! The stages of one attempt, from the spec to the collected outputs:
//! spec → documents → inputs → stage → runtime → render → exec → collect,
//! filling results.json as they go.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::collect::Outputs;
use crate::contract::{Contract, RunnerKind};
use crate::error::Error;
use crate::exec::{self, Interrupts, Job, Task};
use crate::results::{Results, SpecInfo};
use crate::spec::Spec;
use crate::workdir::{Logs, Workdir};

use super::grace;

/// The stages from spec to collected outputs, filling `results` as they go.
pub(super) struct Pipeline<'a> {
    pub(super) contract: &'a Contract,
    pub(super) workdir: &'a Workdir,
    pub(super) runtime: &'a tokio::runtime::Runtime,
    pub(super) interrupts: &'a mut Interrupts,
    pub(super) results: &'a mut Results,
    /// When the run started, for its time limit.
    pub(super) clock: Instant,
    /// The results.json at the target when the run started.
    pub(super) prior: Option<&'a crate::store::Prior>,
    /// Whether the run chose to go ahead despite `prior` (a retry of
    /// this job after a failure, `--rerun`, `--overwrite`).
    pub(super) decided: bool,
    /// `prior`, when it is this job's success: nothing more to do.
    pub(super) done_before: Option<serde_json::Value>,
}

impl Pipeline<'_> {
    pub(super) fn execute(&mut self) -> Result<(), Error> {
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
        // Only Files are read (hashed); without any, no worker is needed.
        let reads_files = staged.values().any(|v| !v.paths().is_empty());
        let inputs = if reads_files {
            self.on_worker("hashing", |stop| {
                crate::runtime::runtimeify(&spec, &staged, checksums, stop)
            })?
        } else {
            crate::runtime::runtimeify(&spec, &staged, checksums, &AtomicBool::new(false))?
        };
        self.results.inputs = inputs.clone();
        let digest = crate::results::inputs_digest(&inputs);
        self.results.inputs_digest = Some(digest.clone());
        if let Some(prior) = self.prior {
            self.decide(prior, &spec, &digest)?;
            if self.done_before.is_some() {
                return Ok(());
            }
        }

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
        let verdict = exec::verdict(&outcome, shell).map_err(|err| self.with_stderr(err, &logs));
        drop(job);
        if let Err(err) = verdict {
            // What a failed tool left, for debugging, when asked.
            if self.contract.upload_on_failure
                && self.contract.result.is_some()
                && matches!(err, Error::ToolFailed { .. })
            {
                self.results.results = self.collect(&spec, &logs, true)?;
                self.results.partial = true;
            }
            return Err(err);
        }
        match self.collect(&spec, &logs, false) {
            Ok(outputs) => self.results.results = outputs,
            Err(err @ Error::OutputMissing { .. })
                if self.contract.upload_on_failure && self.contract.result.is_some() =>
            {
                self.results.results = self.collect(&spec, &logs, true)?;
                self.results.partial = true;
                return Err(err);
            }
            Err(err) => return Err(err),
        }
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

    /// Whether to run, given the results.json already at the target: this
    /// job's success is done (unless `--rerun`); this job's failure is
    /// retried; another job's results are never replaced unasked.
    fn decide(
        &mut self,
        prior: &crate::store::Prior,
        spec: &Spec,
        digest: &str,
    ) -> Result<(), Error> {
        let same = prior.same_job(&spec.sha256, digest);
        let uri = self
            .contract
            .result
            .as_ref()
            .map(|t| t.results_uri())
            .unwrap_or_default();
        if same && prior.ok() && !self.contract.rerun {
            self.done_before = Some(prior.doc.clone());
            return Ok(());
        }
        if !same && !self.contract.overwrite {
            let whose = match prior.doc["tool_id"].as_str() {
                Some(tool) if tool != spec.id => format!("tool `{tool}`"),
                Some(_) if prior.doc["spec"]["sha256"] != spec.sha256.as_str() => {
                    "another version of this spec".into()
                }
                Some(_) => "this tool with other inputs".into(),
                None => "something else (not a results.json of this launcher)".into(),
            };
            return Err(Error::ResultsExist(format!(
                "{uri} already holds the results of {whose}; nothing was run. Use another result URI, or --overwrite to replace them"
            )));
        }
        self.decided = true;
        Ok(())
    }

    /// Collects the outputs (hashing them when nothing will upload them).
    fn collect(&mut self, spec: &Spec, logs: &Logs, partial: bool) -> Result<Outputs, Error> {
        let checksums = self.contract.result.is_none();
        let workdir = self.workdir;
        // Value outputs are small reads; only File and Directory outputs
        // (hashed here) need a worker the run can stop.
        let reads_files = spec
            .outputs
            .values()
            .any(|o| !matches!(o.kind, crate::spec::OutputKind::Value { .. }));
        let collected = if reads_files {
            self.on_worker("collecting", |stop| {
                crate::collect::collect(spec, workdir, logs, checksums, partial, stop)
            })?
        } else {
            crate::collect::collect(
                spec,
                workdir,
                logs,
                checksums,
                partial,
                &AtomicBool::new(false),
            )?
        };
        collected.ok_or_else(|| Error::Internal("collection stopped".into()))
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

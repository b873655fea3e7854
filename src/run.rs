//! One full run (DESIGN.md §1): contract → spec → inputs → stage → runtime →
//! render → exec → collect → results → store.
//!
//! This module only sequences the stages and decides what results.json says
//! on each path; every stage's logic lives in its own module.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::contract::{Contract, Env, RunRequest, RunnerKind};
use crate::error::Error;
use crate::exec::{self, Interrupts, Job};
use crate::results::{Results, SpecInfo};
use crate::workdir::Workdir;

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
    let mut results = Results::new(
        tool_id,
        contract.run_id.clone(),
        contract.runner.name(),
        started,
    );

    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => return failed(results, Error::io("cannot start the runtime", err), started),
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
    let workdir = match Workdir::create(contract.workdir.as_deref(), &contract.run_id) {
        Ok(w) => w,
        Err(error) => return failed(results, error, started),
    };
    results.workdir = Some(workdir.path().display().to_string());

    let mut pipeline = Pipeline {
        contract: &contract,
        workdir: &workdir,
        runtime: &runtime,
        interrupts: &mut interrupts,
        results: &mut results,
    };
    let mut error = pipeline.execute().err();
    let stored = match &contract.result {
        Some(target) => {
            let stored = crate::store::store(
                target,
                &mut results,
                error.as_ref(),
                started,
                &runtime,
                &mut interrupts,
            );
            match stored {
                Ok(()) => true,
                Err(err) => {
                    error = Some(err);
                    false
                }
            }
        }
        None => {
            results.finish(error.as_ref(), started);
            false
        }
    };

    let mut notes = Vec::new();
    let local = workdir.results();
    if let Err(err) = std::fs::write(&local, results.to_json()) {
        notes.push(format!("cannot write {}: {err}", local.display()));
    }
    match (&contract.result, stored) {
        (Some(target), true) => {
            if !contract.keep_workdir && error.is_none() {
                workdir.remove();
            } else {
                notes.push(format!("work directory kept: {}", workdir.path().display()));
            }
            notes.push(format!("results stored at {}", target.results_uri()));
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

fn failed(mut results: Results, error: Error, started: DateTime<Utc>) -> RunOutput {
    results.finish(Some(&error), started);
    RunOutput {
        results: Some(results),
        error: Some(error),
        notes: Vec::new(),
    }
}

/// The stages from spec to collected outputs, filling `results` as they go.
struct Pipeline<'a> {
    contract: &'a Contract,
    workdir: &'a Workdir,
    runtime: &'a tokio::runtime::Runtime,
    interrupts: &'a mut Interrupts,
    results: &'a mut Results,
}

impl Pipeline<'_> {
    fn execute(&mut self) -> Result<(), Error> {
        let spec = crate::spec::load_for_run(&self.contract.spec_path)?;
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
        let (inputs, resources) =
            crate::inputs::check(&spec, &self.contract.inputs, &self.contract.resources, &cwd)?;
        self.results.inputs = inputs.clone();
        self.results.resources = Some(resources.clone());

        let mut runner = exec::runner(self.contract.runner);
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
        let inputs = crate::runtime::runtimeify(&spec, &staged)?;
        self.results.inputs = inputs.clone();

        let plan =
            crate::render::render(&spec, &inputs, &resources, &self.contract.run_id, workdir)?;
        self.results.command = Some(plan.command.display());

        let job = Job {
            argv: plan.command.argv(),
            env: plan.env,
            workdir: workdir.to_path_buf(),
            stdout_path: self.workdir.stdout(),
            stderr_path: self.workdir.stderr(),
            timeout: self.contract.timeout.or(resources
                .time_limit_s
                .filter(|&s| s > 0)
                .map(Duration::from_secs)),
            grace: grace(),
        };
        runner.set_up(&job)?;
        let outcome = self.runtime.block_on(runner.exec(&job, self.interrupts));
        runner.tear_down(&job)?;
        let outcome = outcome?;
        self.results.usage = Some(outcome.usage);
        exec::verdict(&outcome, &job, plan.command.is_shell())?;

        self.results.results = crate::collect::collect(
            &spec,
            &crate::collect::Places {
                workdir,
                stdout: &job.stdout_path,
                stderr: &job.stderr_path,
            },
            self.contract.result.is_none(),
        )?;
        Ok(())
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

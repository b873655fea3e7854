//! One full run (DESIGN.md §1): contract → spec → inputs → stage → runtime →
//! render → exec → collect → results → store.
//!
//! This module only sequences the stages and decides what results.json says
//! on each path; every stage's logic lives in its own module.

use std::time::Duration;

use chrono::Utc;
use tokio::time::Instant;

use crate::contract::{Contract, Env, RunRequest};
use crate::error::Error;
use crate::exec::Interrupts;
use crate::objects::Replace;
use crate::results::Results;
use crate::store::Storing;
use crate::workdir::Workdir;

mod pipeline;

use pipeline::Pipeline;

/// What a run produced: results.json (once the contract was read), the
/// error it ended with, and lines for stderr.
pub struct RunOutput {
    pub results: Option<Results>,
    pub error: Option<Error>,
    pub notes: Vec<String>,
    /// The results.json of an earlier run of this same job, which
    /// succeeded: this run did nothing and prints that instead.
    pub done_before: Option<serde_json::Value>,
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
                done_before: None,
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
            done_before: None,
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
    let mut say_later = Vec::new();
    let mut prior = None;
    // Whether the target could be read at all (a role may write results
    // without being allowed to read them).
    let mut prior_known = true;
    let mut decided = false;
    let mut done_before = None;
    let mut error = match &workdir {
        Ok(workdir) => {
            results.workdir = Some(workdir.path().display().to_string());
            // The results.json already at the target says whether this
            // job has run before.
            let found = match &contract.result {
                Some(target) => runtime.block_on(interrupts.guard(crate::store::prior(target))),
                None => Ok(None),
            };
            let found = match found {
                // Unreachable: nothing could be stored either; a retry can.
                Err(
                    err @ (Error::Signalled { .. }
                    | Error::Timeout(_)
                    | Error::Store {
                        fault: crate::error::Fault::Transient,
                        ..
                    }),
                ) => Err(err),
                Err(err) => {
                    prior_known = false;
                    say_later.push(format!(
                        "cannot check for an earlier run of this job ({}); its results.json will be replaced",
                        err.message()
                    ));
                    Ok(None)
                }
                found => found,
            };
            match found {
                Ok(found) => {
                    prior = found;
                    let mut pipeline = Pipeline {
                        contract: &contract,
                        workdir,
                        runtime: &runtime,
                        interrupts: &mut interrupts,
                        results: &mut results,
                        clock,
                        prior: prior.as_ref(),
                        decided: false,
                        done_before: None,
                    };
                    let error = pipeline.execute().err();
                    decided = pipeline.decided;
                    done_before = pipeline.done_before;
                    error
                }
                Err(err) => Some(err),
            }
        }
        Err(_) => None,
    };
    if let Some(doc) = done_before {
        if let Ok(workdir) = workdir {
            workdir.remove();
        }
        let uri = contract.result.as_ref().map(|t| t.results_uri());
        return RunOutput {
            results: None,
            error: None,
            notes: vec![format!(
                "this job (the same spec and inputs) already succeeded: {} is its results.json; nothing was run (--rerun runs it again)",
                uri.unwrap_or_default()
            )],
            done_before: Some(doc),
        };
    }
    let workdir = match workdir {
        Ok(workdir) => Some(workdir),
        Err(err) => {
            error = Some(err);
            None
        }
    };
    // What results.json may replace: nothing new since the run started;
    // another job's results never (the run refused before it began); a
    // succeeded run's only when this run chose to replace it.
    let replace = match &prior {
        None if !prior_known => Some(Replace::Anything),
        None => Some(Replace::Nothing),
        Some(_) if matches!(error, Some(Error::ResultsExist(_))) => None,
        Some(p) if decided || !p.ok() => Some(Replace::Exactly(p.version.clone())),
        Some(_) => None,
    };
    let stored = match (&contract.result, replace) {
        (Some(target), Some(replace)) => {
            let mut storing = Storing {
                target,
                workdir: workdir.as_ref(),
                runtime: &runtime,
                interrupts: &mut interrupts,
                grace: grace(),
                started,
                replace,
                sign: contract.sign_key.as_ref(),
            };
            let stored = storing.store(&mut results, error.as_ref());
            if let Some(err) = stored.error {
                error = Some(err);
            }
            stored.results
        }
        (Some(target), None) => {
            results.finish(error.as_ref(), None, started);
            if !matches!(error, Some(Error::ResultsExist(_))) {
                say_later.push(format!(
                    "{} holds a successful run's results.json; this run's is not stored over it",
                    target.results_uri()
                ));
            }
            false
        }
        (None, _) => {
            results.finish(error.as_ref(), None, started);
            false
        }
    };

    let mut notes = match workdir {
        // Refused before anything ran: there is nothing to keep, and the
        // error says all there is to say.
        Some(workdir) if matches!(error, Some(Error::ResultsExist(_))) => {
            workdir.remove();
            Vec::new()
        }
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
    notes.append(&mut say_later);
    RunOutput {
        results: Some(results),
        error,
        notes,
        done_before: None,
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

/// The kill grace period: `OMNI_KILL_GRACE_S`, default 10 s.
fn grace() -> Duration {
    Duration::from_secs(
        std::env::var("OMNI_KILL_GRACE_S")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10),
    )
}

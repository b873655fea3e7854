//! Stage 7, execution: the runner boundary (`set_up / exec / tear_down`),
//! a registry of runners by name, the job they run, and what the way a tool
//! ended means for the run (`verdict`).
//!
//! A runner only runs what it is given: it never renders, validates or
//! collects. All spawning goes through `process::run`.

mod interrupt;
mod process;

use std::path::PathBuf;
use std::time::Duration;

use futures::future::BoxFuture;

use crate::contract::RunnerKind;
use crate::error::Error;

pub use interrupt::{Interrupts, Stop};
pub use process::{Outcome, Status, Usage};

/// Everything a runner needs to run one command.
#[derive(Debug)]
pub struct Job {
    /// Program and arguments (`/bin/sh -c …` for a shell command).
    pub argv: Vec<String>,
    /// Extra environment variables for the tool.
    pub env: Vec<(String, String)>,
    /// The tool's working directory.
    pub workdir: PathBuf,
    /// Where the tool's stdout and stderr are kept.
    pub stdout: std::fs::File,
    pub stderr: std::fs::File,
    /// How long a stopped tool gets between SIGTERM and SIGKILL.
    pub grace: Duration,
}

/// A way of running jobs: on this machine, in a container, …
pub trait Runner: Send {
    /// Prepares the runner (pull an image, check a daemon …).
    fn set_up(&mut self, job: &Job) -> Result<(), Error>;
    /// Runs the job to its end, or until `interrupts` says to stop (the
    /// time limit, or a signal to the launcher).
    fn exec<'a>(
        &'a mut self,
        job: &'a Job,
        interrupts: &'a mut Interrupts,
    ) -> BoxFuture<'a, Result<Outcome, Error>>;
    /// Releases what `set_up` took.
    fn tear_down(&mut self, job: &Job) -> Result<(), Error>;
}

/// The runner of a kind.
pub fn runner(kind: RunnerKind) -> Box<dyn Runner> {
    match kind {
        RunnerKind::Local => Box::new(Local),
    }
}

/// Runs the command directly on this machine, in its own process group.
pub struct Local;

impl Runner for Local {
    fn set_up(&mut self, _job: &Job) -> Result<(), Error> {
        Ok(())
    }

    fn exec<'a>(
        &'a mut self,
        job: &'a Job,
        interrupts: &'a mut Interrupts,
    ) -> BoxFuture<'a, Result<Outcome, Error>> {
        Box::pin(process::run(job, interrupts))
    }

    fn tear_down(&mut self, _job: &Job) -> Result<(), Error> {
        Ok(())
    }
}

/// What the way the tool ended means for the run (DESIGN.md §8). `shell`:
/// the command ran under `sh -c`, whose 126 and 127 mean the command could
/// not be run or found.
pub fn verdict(outcome: &Outcome, shell: bool) -> Result<(), Error> {
    match (outcome.stopped, outcome.status) {
        (Some(stop), _) => Err(stop.error()),
        (None, Status::Signalled(signal)) => Err(Error::Signalled {
            signal,
            by_launcher: false,
        }),
        (None, Status::Exited(0)) => Ok(()),
        (None, Status::Exited(127)) if shell => Err(Error::NotFound(
            "the shell could not find the command (exit 127); see the tool's stderr".into(),
        )),
        (None, Status::Exited(126)) if shell => Err(Error::NotExecutable(
            "the shell could not execute the command (exit 126); see the tool's stderr".into(),
        )),
        (None, Status::Exited(code)) => Err(Error::ToolFailed {
            status: code,
            said: None,
        }),
    }
}

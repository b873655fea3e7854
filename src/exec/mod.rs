//! Stage 7, execution: the runner boundary (`set_up / exec / tear_down`),
//! the runners (`local`, `docker`, `podman`), the task they run, and what
//! the way a tool ended means for the run (`verdict`).
//!
//! A runner only runs what it is given: it never renders, validates or
//! collects. All spawning goes through `process::run`.

mod container;
mod interrupt;
mod process;
mod spawn;
mod tee;

use std::path::PathBuf;
use std::time::Duration;

use futures::future::BoxFuture;

use crate::contract::{ContainerOptions, RunnerKind};
use crate::error::Error;
use crate::render::Rendered;

pub use container::{ContainerInfo, Engine, Settings};
pub use interrupt::{Interrupts, Stop};
pub use process::{Outcome, Status, Usage};

/// What to run, whatever runs it.
#[derive(Debug)]
pub struct Task {
    pub command: Rendered,
    /// Extra environment variables for the tool.
    pub env: Vec<(String, String)>,
    /// The tool's working directory.
    pub workdir: PathBuf,
    /// Local inputs outside the work directory (read-only in a container).
    pub mounts: Vec<PathBuf>,
    pub cpu: f64,
    pub memory_mb: Option<u64>,
    pub gpu: Option<u64>,
    pub tool_id: String,
    pub run_id: String,
}

impl Task {
    /// The task a rendered plan makes, in `workdir`: local inputs outside
    /// it become the read-only mounts of a container.
    pub fn new(
        spec: &crate::spec::Spec,
        plan: crate::render::Plan,
        inputs: &crate::inputs::Inputs,
        resources: &crate::inputs::Resources,
        workdir: &std::path::Path,
        run_id: &str,
    ) -> Self {
        Self {
            command: plan.command,
            env: plan.env,
            workdir: workdir.to_path_buf(),
            mounts: inputs.values().flat_map(|v| v.paths()).collect(),
            cpu: resources.cpu,
            memory_mb: resources.memory_mb,
            gpu: resources.gpu,
            tool_id: spec.id.clone(),
            run_id: run_id.to_string(),
        }
    }
}

/// A task with where its output goes.
#[derive(Debug)]
pub struct Job {
    pub task: Task,
    /// Where the tool's stdout and stderr are kept.
    pub stdout: std::fs::File,
    pub stderr: std::fs::File,
    /// How long a stopped tool gets between SIGTERM and SIGKILL.
    pub grace: Duration,
    /// Masked in what the launcher echoes of the tool's output.
    pub secrets: crate::redact::Secrets,
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
    /// Releases what `set_up` took; called on every path after `set_up`.
    fn tear_down(&mut self, job: &Job) -> Result<(), Error>;
    /// What ran the tool, for results.json: an image and its engine.
    fn container(&self) -> Option<ContainerInfo> {
        None
    }
}

/// The runner of a kind; `settings` say how a container runner runs.
pub fn runner(kind: RunnerKind, settings: Settings) -> Box<dyn Runner> {
    match kind {
        RunnerKind::Local => Box::new(Local),
        RunnerKind::Docker => Box::new(container::Container::new(Engine::Docker, settings)),
        RunnerKind::Podman => Box::new(container::Container::new(Engine::Podman, settings)),
    }
}

/// The container settings of a run: the spec's requirements, the command
/// line's options over them.
pub fn settings(requirements: &crate::spec::Requirements, options: &ContainerOptions) -> Settings {
    Settings {
        image: options
            .image
            .clone()
            .or_else(|| requirements.container.clone()),
        pull: options.pull,
        user: options.user.clone(),
        env: options.env.clone(),
        network: requirements.network,
        image_entrypoint: requirements.image_entrypoint,
    }
}

/// The engine command a container runner would run (`render --runner`).
pub fn engine_command(kind: RunnerKind, settings: &Settings, task: &Task) -> Option<Vec<String>> {
    let engine = match kind {
        RunnerKind::Local => return None,
        RunnerKind::Docker => Engine::Docker,
        RunnerKind::Podman => Engine::Podman,
    };
    Some(container::run_argv(engine, settings, task))
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
        Box::pin(async move {
            let argv = job.task.command.argv();
            let spawn = process::Spawn {
                argv: &argv,
                env: &job.task.env,
                cwd: &job.task.workdir,
                stdout: &job.stdout,
                stderr: &job.stderr,
                grace: job.grace,
                death_signal: nix::sys::signal::Signal::SIGKILL,
                secrets: &job.secrets,
            };
            process::run(&spawn, interrupts, process::Stopper::Group).await
        })
    }

    fn tear_down(&mut self, _job: &Job) -> Result<(), Error> {
        Ok(())
    }
}

/// What the way the tool ended means for the run (DESIGN.md §8). `shell`:
/// the command ran under `sh -c`, whose 126 and 127 mean the command could
/// not be run or found.
pub fn verdict(outcome: &Outcome, shell: bool) -> Result<(), Error> {
    if outcome.out_of_memory {
        return Err(Error::OutOfMemory);
    }
    match (outcome.stopped, outcome.status) {
        (Some(stop), _) => Err(stop.error()),
        (None, Status::Signalled(signal)) => Err(Error::Signalled {
            signal,
            by_launcher: false,
        }),
        (None, Status::Exited(0)) => Ok(()),
        (None, Status::Exited(127)) if shell => Err(Error::NotFound(
            "the shell could not find the command (exit 127)".into(),
        )),
        (None, Status::Exited(126)) if shell => Err(Error::NotExecutable(
            "the shell could not execute the command (exit 126)".into(),
        )),
        (None, Status::Exited(code)) => Err(Error::ToolFailed {
            status: code,
            said: None,
        }),
    }
}

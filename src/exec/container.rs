//! The `docker` and `podman` runners: the rendered command runs inside the
//! spec's image (or `--image`), through the engine's command line, which
//! podman shares with docker.
//!
//! Paths need no rewriting: the work directory is mounted read-write at
//! its own path, local inputs read-only at theirs, and the tool starts in
//! the work directory, which is also its HOME and TMPDIR. It runs as the
//! invoking user (so its files are the user's), without network unless
//! the spec asks, with `--init` and `no-new-privileges`, and sees none of
//! the launcher's environment (no store credentials): only the spec's
//! `env`, TOOL_ID, RUN_ID and what `--container-env` names.
//!
//! The container is named after the run id, and `tear_down` removes it on
//! every path. If the launcher is killed outright, its engine client gets
//! SIGTERM from the kernel and passes it to the container; a container
//! left over anyway is removed when the run is tried again.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use nix::sys::signal::Signal;
use serde::Serialize;

use super::process::{self, Spawn, Stopper};
use super::{Interrupts, Job, Outcome, Runner, Status, Task};
use crate::contract::Pull;
use crate::error::Error;
use crate::render::Rendered;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Docker,
    Podman,
}

impl Engine {
    pub fn name(self) -> &'static str {
        match self {
            Engine::Docker => "docker",
            Engine::Podman => "podman",
        }
    }

    /// The engine's client: `OMNI_DOCKER` / `OMNI_PODMAN`, else on PATH.
    fn program(self) -> String {
        let var = match self {
            Engine::Docker => "OMNI_DOCKER",
            Engine::Podman => "OMNI_PODMAN",
        };
        std::env::var(var).unwrap_or_else(|_| self.name().to_string())
    }
}

/// How the container runs: the spec's requirements, the command line's
/// options over them.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    pub image: Option<String>,
    pub pull: Pull,
    /// `uid:gid` to run as (default: the invoking user's).
    pub user: Option<String>,
    /// Launcher environment variables passed through by name.
    pub env: Vec<String>,
    pub network: bool,
    /// Run the image's entrypoint with the command as its arguments.
    pub image_entrypoint: bool,
}

/// What ran the tool, for results.json.
#[derive(Clone, Debug, Serialize)]
pub struct ContainerInfo {
    /// `docker 20.10.24`.
    pub engine: String,
    pub image: String,
    /// The image's id (`sha256:…`).
    pub id: String,
    /// A registry digest (`repo@sha256:…`), for a pulled image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

pub struct Container {
    engine: Engine,
    settings: Settings,
    info: Option<ContainerInfo>,
    /// Engine commands started by `set_up`, finished after the tool ran,
    /// so that none of them delays its start.
    version: Option<Child>,
    leftovers: Option<Child>,
    image_id: Option<Child>,
}

impl Container {
    pub fn new(engine: Engine, settings: Settings) -> Self {
        Self {
            engine,
            settings,
            info: None,
            version: None,
            leftovers: None,
            image_id: None,
        }
    }

    /// Starts an engine command.
    fn start(&self, args: &[&str]) -> Option<Child> {
        process::spawn_helper(
            Command::new(self.engine.program())
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped()),
        )
        .ok()
    }

    /// Runs an engine command to its end; its stdout, or why it failed.
    fn engine(&self, args: &[&str]) -> Result<String, String> {
        self.finish(self.start(args))
    }

    /// Waits for an engine command; its stdout, or why it failed.
    fn finish(&self, child: Option<Child>) -> Result<String, String> {
        let program = self.engine.program();
        let child = child.ok_or_else(|| format!("cannot run `{program}`"))?;
        let pid = child.id();
        let output = child.wait_with_output();
        process::helper_done(pid);
        let output = output.map_err(|err| format!("`{program}`: {err}"))?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
        } else {
            Err(crate::error::one_line(&String::from_utf8_lossy(
                &output.stderr,
            )))
        }
    }

    fn image(&self) -> Result<&str, Error> {
        self.settings.image.as_deref().ok_or_else(|| {
            Error::Usage(format!(
                "the {} runner needs an image: `requirements.container` in the spec, or --image",
                self.engine.name()
            ))
        })
    }

    /// The image's id and first registry digest.
    fn inspect_image(&self, child: Option<Child>) -> Result<(String, Option<String>), String> {
        let text = self.finish(child)?;
        let (id, digests) = text.split_once('|').unwrap_or((&text, ""));
        // Podman prints the bare hex.
        let id = if id.contains(':') {
            id.to_string()
        } else {
            format!("sha256:{id}")
        };
        let digest = digests.split(',').next().filter(|d| !d.is_empty());
        Ok((id, digest.map(str::to_string)))
    }

    fn start_image_inspect(&self, image: &str) -> Option<Child> {
        self.start(&[
            "image",
            "inspect",
            "--format",
            "{{.Id}}|{{range .RepoDigests}}{{.}},{{end}}",
            image,
        ])
    }

    /// Why the engine could not start the container (its exit 125).
    fn not_started(&mut self, image: &str) -> Error {
        let engine = self.engine.name();
        let version = self.version.take();
        if let Err(why) = self.finish(version) {
            return Error::NotExecutable(format!("cannot use {engine}: {why}"));
        }
        if self.inspect_image(self.start_image_inspect(image)).is_err() {
            return match self.settings.pull {
                Pull::Never => Error::Usage(format!(
                    "image `{image}` is not on this machine and --pull never forbids pulling it"
                )),
                _ => Error::NotFound(format!("image `{image}` is not available")),
            };
        }
        Error::NotExecutable(format!("{engine} could not start the container (exit 125)"))
    }

    /// What ran, from the commands `set_up` started.
    fn record(&mut self, image: &str) {
        let engine = self.engine.name();
        let version = self.version.take();
        let version = self.finish(version).unwrap_or_default();
        let inspecting = self.image_id.take();
        let inspected = match self.inspect_image(inspecting) {
            Ok(found) => Ok(found),
            // Pulled by the run itself.
            Err(_) => self.inspect_image(self.start_image_inspect(image)),
        };
        if let Ok((id, digest)) = inspected {
            self.info = Some(ContainerInfo {
                engine: format!("{engine} {version}").trim().to_string(),
                image: image.to_string(),
                id,
                digest,
            });
        }
    }
}

/// The label that marks a container as this run's.
const RUN_LABEL: &str = "omni-launch.run-id";

/// The container's name: the run id made a valid name, and the launcher's
/// pid, so two launchers given the same run id never meet.
fn container_name(run_id: &str) -> String {
    let id: String = run_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("omni-launch-{id}-{}", std::process::id())
}

/// A `--mount` value; fields with a comma or quote are CSV-quoted, as the
/// engines read them.
fn mount(path: &Path, read_only: bool) -> String {
    let path = path.to_string_lossy();
    let field = |key: &str| {
        let text = format!("{key}={path}");
        if text.contains([',', '"']) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text
        }
    };
    let mut value = format!("type=bind,{},{}", field("source"), field("target"));
    if read_only {
        value.push_str(",readonly");
    }
    value
}

/// The engine's `run` command for a task: what `exec` runs and `render
/// --runner` prints.
pub fn run_argv(engine: Engine, settings: &Settings, task: &Task) -> Vec<String> {
    let workdir = task.workdir.to_string_lossy().into_owned();
    let user = settings.user.clone().unwrap_or_else(|| {
        format!(
            "{}:{}",
            nix::unistd::getuid().as_raw(),
            nix::unistd::getgid().as_raw()
        )
    });
    let mut argv: Vec<String> = vec![
        engine.program(),
        "run".into(),
        "--name".into(),
        container_name(&task.run_id),
        "--label".into(),
        format!("{RUN_LABEL}={}", task.run_id),
        "--pull".into(),
        settings.pull.as_str().into(),
        "--init".into(),
        "--security-opt".into(),
        "no-new-privileges".into(),
        "--user".into(),
        user,
        "--workdir".into(),
        workdir.clone(),
        "--mount".into(),
        mount(&task.workdir, false),
    ];
    if !settings.network {
        argv.extend(["--network".into(), "none".into()]);
    }
    for path in task.mounts.iter().filter(|p| !p.starts_with(&task.workdir)) {
        argv.extend(["--mount".into(), mount(path, true)]);
    }
    let mut env = vec![
        ("HOME".to_string(), workdir.clone()),
        ("TMPDIR".to_string(), workdir),
        ("TOOL_ID".to_string(), task.tool_id.clone()),
        ("RUN_ID".to_string(), task.run_id.clone()),
    ];
    env.extend(task.env.iter().cloned());
    for name in &settings.env {
        if let Ok(value) = std::env::var(name) {
            env.push((name.clone(), value));
        }
    }
    for (name, value) in env {
        argv.extend(["--env".into(), format!("{name}={value}")]);
    }
    argv.extend(["--cpus".into(), format_cpus(task.cpu)]);
    if let Some(mb) = task.memory_mb {
        argv.extend(["--memory".into(), format!("{mb}m")]);
    }
    if let Some(gpus) = task.gpu.filter(|&g| g > 0) {
        argv.extend(["--gpus".into(), gpus.to_string()]);
    }
    let command = match &task.command {
        Rendered::Shell(text) => vec!["/bin/sh".to_string(), "-c".into(), text.clone()],
        Rendered::Argv(args) => args.clone(),
    };
    let image = settings.image.clone().unwrap_or_default();
    match command.split_first() {
        Some((program, args)) if !settings.image_entrypoint => {
            argv.extend(["--entrypoint".into(), program.clone(), image]);
            argv.extend(args.iter().cloned());
        }
        _ => {
            argv.push(image);
            argv.extend(command);
        }
    }
    argv
}

fn format_cpus(cpu: f64) -> String {
    if cpu.fract() == 0.0 {
        format!("{}", cpu as u64)
    } else {
        format!("{cpu}")
    }
}

impl Runner for Container {
    fn set_up(&mut self, job: &Job) -> Result<(), Error> {
        let image = self.image()?.to_string();
        // The engine pulls as `--pull` says, in `docker run` itself; these
        // finish while the tool runs.
        self.version = self.start(&["version", "--format", "{{.Server.Version}}"]);
        // Containers of this run id that a launcher killed outright left.
        let filter = format!("label={RUN_LABEL}={}", job.task.run_id);
        self.leftovers = self.start(&[
            "ps",
            "--all",
            "--filter",
            &filter,
            "--filter",
            "status=exited",
            "--format",
            "{{.ID}} {{.Names}}",
        ]);
        if self.settings.pull != Pull::Always {
            self.image_id = self.start_image_inspect(&image);
        }
        // A chosen user must be able to write its work directory.
        if let Some(user) = &self.settings.user
            && nix::unistd::geteuid().is_root()
        {
            let mut ids = user.split(':').map(|p| p.parse::<u32>().ok());
            if let (Some(Some(uid)), gid) = (ids.next(), ids.next().flatten()) {
                let _ = nix::unistd::chown(
                    &job.task.workdir,
                    Some(nix::unistd::Uid::from_raw(uid)),
                    gid.map(nix::unistd::Gid::from_raw),
                );
            }
        }
        Ok(())
    }

    fn exec<'a>(
        &'a mut self,
        job: &'a Job,
        interrupts: &'a mut Interrupts,
    ) -> futures::future::BoxFuture<'a, Result<Outcome, Error>> {
        Box::pin(async move {
            let image = self.image()?.to_string();
            let argv = run_argv(self.engine, &self.settings, &job.task);
            let name = container_name(&job.task.run_id);
            let program = self.engine.program();
            // Signals go to the container (`--init` passes them on to the
            // tool), not to the engine's client.
            let deliver = |signal: Signal| {
                let _ = Command::new(&program)
                    .args(["kill", "--signal", signal.as_str(), &name])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            };
            let spawn = Spawn {
                argv: &argv,
                env: &[],
                cwd: &job.task.workdir,
                stdout: &job.stdout,
                stderr: &job.stderr,
                grace: job.grace,
                death_signal: Signal::SIGTERM,
                secrets: &job.secrets,
            };
            let mut outcome = process::run(&spawn, interrupts, Stopper::With(&deliver)).await?;
            // The account is the client's, not the tool's.
            outcome.usage = None;
            if outcome.status != Status::Exited(0) {
                let state = self
                    .engine(&[
                        "inspect",
                        "--format",
                        "{{.State.OOMKilled}} {{.State.StartedAt}}",
                        &name,
                    ])
                    .unwrap_or_default();
                let mut state = state.split(' ');
                outcome.out_of_memory = state.next() == Some("true");
                // 125 is the engine's own failure, unless the tool started
                // and said it.
                let started = state.next().is_some_and(|at| !at.starts_with("0001-01-01"));
                if outcome.status == Status::Exited(125) && outcome.stopped.is_none() && !started {
                    return Err(self.not_started(&image));
                }
            }
            self.record(&image);
            Ok(outcome)
        })
    }

    fn tear_down(&mut self, job: &Job) -> Result<(), Error> {
        // This run's container, and those left by earlier launchers of the
        // same run id, all at once.
        let name = container_name(&job.task.run_id);
        let mut doomed = vec![name.clone()];
        let leftovers = self.leftovers.take();
        if let Ok(listed) = self.finish(leftovers) {
            doomed.extend(
                listed
                    .lines()
                    .filter_map(|line| line.split_once(' '))
                    .filter(|(_, names)| *names != name)
                    .map(|(id, _)| id.to_string()),
            );
        }
        let removals: Vec<_> = doomed
            .iter()
            .map(|id| self.start(&["rm", "--force", id]))
            .collect();
        for removal in removals {
            let _ = self.finish(removal);
        }
        // Commands nobody waited for (the tool never ran).
        for child in [self.version.take(), self.image_id.take()]
            .into_iter()
            .flatten()
        {
            let _ = self.finish(Some(child));
        }
        Ok(())
    }

    fn container(&self) -> Option<ContainerInfo> {
        self.info.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_quote_awkward_paths() {
        assert_eq!(
            mount(Path::new("/d/a b"), true),
            "type=bind,source=/d/a b,target=/d/a b,readonly"
        );
        assert_eq!(
            mount(Path::new("/d/a,b"), false),
            "type=bind,\"source=/d/a,b\",\"target=/d/a,b\""
        );
        assert_eq!(
            container_name("run:1@x"),
            format!("omni-launch-run-1-x-{}", std::process::id())
        );
    }
}

//! The one place a tool process is spawned, watched and reaped.
//!
//! Signal policy, written down:
//! * the tool runs in its own process group, stdin from /dev/null, and gets
//!   SIGKILL if the launcher itself dies (parent-death signal);
//! * on the time limit, SIGTERM, SIGINT, SIGHUP or SIGQUIT the whole group
//!   gets SIGTERM, then SIGKILL after the grace period;
//! * when the tool's main process ends, whatever it left in its group is
//!   killed, and so is any descendant that escaped the group (`setsid`):
//!   the launcher is their subreaper, so they come back to it to be killed;
//! * stdout and stderr are copied to their files and echoed as they come
//!   (`tee`), on the launcher's own thread, in the event loop that also
//!   waits for the tool's end (a pidfd; SIGCHLD on kernels without them)
//!   and for the reasons to stop it. After the tool is gone the copy is
//!   bounded: a pipe some stray process keeps open cannot hold the run.
//!
//! The tool itself is started by `spawn`.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid, waitpid};
use nix::unistd::Pid;
use tokio::io::unix::AsyncFd;

use super::tee::Tee;
use super::{Interrupts, Stop};
use crate::diag::Problem;
use crate::error::Error;

/// How long the tool's streams are drained after it is gone.
const DRAIN: Duration = Duration::from_secs(2);

/// The kernel's limit on one argument (MAX_ARG_STRLEN, 32 pages).
const MAX_ARG: usize = 32 * 4096;

/// How the tool's main process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Exited(i32),
    Signalled(i32),
}

/// Resource usage of the tool's main process and its waited-for
/// descendants, from the kernel (`wait4`).
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct Usage {
    pub max_rss_kb: i64,
    pub user_s: f64,
    pub sys_s: f64,
}

#[derive(Clone, Debug)]
pub struct Outcome {
    pub status: Status,
    /// Why the launcher stopped the tool, if it did.
    pub stopped: Option<Stop>,
    /// `None` when the kernel's account is not the tool's (a container
    /// engine's client ran, not the tool).
    pub usage: Option<Usage>,
    /// The runner knows the tool was killed for exceeding its memory limit.
    pub out_of_memory: bool,
}

/// One program to start, and where its streams go.
pub struct Spawn<'a> {
    pub argv: &'a [String],
    pub env: &'a [(String, String)],
    pub cwd: &'a std::path::Path,
    pub stdout: &'a File,
    pub stderr: &'a File,
    /// How long a stopped program gets between SIGTERM and SIGKILL.
    pub grace: Duration,
    /// What the program gets if the launcher dies first: SIGKILL for a
    /// tool; SIGTERM for a container engine's client, which passes it on
    /// to the container.
    pub death_signal: Signal,
    /// Masked in what is echoed to the launcher's stderr (the files keep
    /// the tool's output as it was).
    pub secrets: &'a crate::redact::Secrets,
}

/// How a running program is stopped.
pub enum Stopper<'a> {
    /// Signal its process group.
    Group,
    /// Something else delivers the signal (a container engine).
    With(&'a (dyn Fn(Signal) + Sync)),
}

pub async fn run(
    job: &Spawn<'_>,
    interrupts: &mut Interrupts,
    stopper: Stopper<'_>,
) -> Result<Outcome, Error> {
    let Some(program) = job.argv.first() else {
        return Err(Error::Internal("empty command".into()));
    };
    fits_the_kernel(job.argv, job.env)?;
    // Descendants that escape the tool's group come back to us when their
    // parents die, so that they can be killed too.
    let _ = nix::sys::prctl::set_child_subreaper(true);

    let pipe = || {
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|err| Error::io("cannot make a pipe for the tool's output", err.into()))
    };
    let (out_pipe, out_end) = pipe()?;
    let (err_pipe, err_end) = pipe()?;
    let nothing = File::open("/dev/null").map_err(|err| Error::io("cannot open /dev/null", err))?;
    let child = super::spawn::spawn(&super::spawn::Command {
        argv: job.argv,
        env: job.env,
        cwd: job.cwd,
        stdin: nothing.as_fd(),
        stdout: out_end.as_fd(),
        stderr: err_end.as_fd(),
        death_signal: job.death_signal as i32,
    })
    .map_err(|source| spawn_error(program, source))?;
    // The tool holds the write ends now: the pipes end when it (and
    // whatever it started) is done with them.
    drop((out_end, err_end, nothing));
    let pgid = Pid::from_raw(child.id());
    let mut watch = Watch::new(pgid)?;
    let mut tee = Tee::new(
        [out_pipe, err_pipe],
        [job.stdout, job.stderr],
        job.secrets.clone(),
    )
    .map_err(|err| Error::io("cannot keep the tool's output", err))?;

    // The copy runs as long as the tool's pipes are open; the wait, until
    // the tool's main process has ended (or been stopped).
    let mut copying = std::pin::pin!(tee.run());
    let mut copied = None;
    let waiting = async {
        let mut exited = std::pin::pin!(exited(pgid, &mut watch));
        tokio::select! {
            waited = &mut exited => (waited, None),
            why = interrupts.next() => {
                let signal = |sig: Signal| match &stopper {
                    Stopper::Group => {
                        let _ = killpg(pgid, sig);
                    }
                    Stopper::With(deliver) => deliver(sig),
                };
                (stop(&signal, job.grace, &mut exited).await, Some(why))
            }
        }
    };
    let mut waiting = std::pin::pin!(waiting);
    let (waited, stopped) = loop {
        tokio::select! {
            result = &mut copying, if copied.is_none() => copied = Some(result),
            outcome = &mut waiting => break outcome,
        }
    };
    waited.map_err(|err| Error::io("cannot wait for the tool", err.into()))?;
    // It has exited: reaping it, with its resource usage, does not block.
    let (status, usage) = child
        .wait()
        .map_err(|err| Error::io("cannot wait for the tool", err))?;
    // The main process is gone; nothing it started may outlive the run.
    let _ = killpg(pgid, Signal::SIGKILL);
    kill_escaped();
    // What is left in the pipes is copied, for a bounded time: a pipe some
    // stray process keeps open cannot hold the run.
    let copied = match copied {
        Some(result) => Some(result),
        None => tokio::time::timeout(DRAIN, &mut copying).await.ok(),
    };
    if let Some(Err(err)) = copied {
        return Err(Error::io("cannot keep the tool's output", err));
    }

    Ok(Outcome {
        status,
        stopped,
        usage: Some(usage),
        out_of_memory: false,
    })
}

/// How the launcher learns that the tool's main process has ended: a pidfd
/// that becomes readable (Linux 5.3), else SIGCHLD.
enum Watch {
    Pidfd(AsyncFd<OwnedFd>),
    Signal(tokio::signal::unix::Signal),
}

impl Watch {
    fn new(pid: Pid) -> Result<Self, Error> {
        if let Some(fd) = sys::pidfd_open(pid)
            && let Ok(fd) = super::tee::register(fd, tokio::io::Interest::READABLE)
        {
            return Ok(Watch::Pidfd(fd));
        }
        // Caught from now on; `exited` looks before it waits, so an end
        // that came first is not missed.
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child())
            .map(Watch::Signal)
            .map_err(|err| Error::io("cannot handle SIGCHLD", err))
    }

    async fn changed(&mut self) {
        match self {
            Watch::Pidfd(fd) => match fd.readable().await {
                Ok(mut ready) => ready.clear_ready(),
                // Cannot happen for a registered pidfd; waitid decides.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            },
            Watch::Signal(signal) => {
                signal.recv().await;
            }
        }
    }
}

/// Waits, without reaping it, until the process `pid` has exited, with no
/// thread sitting in a blocking wait.
async fn exited(pid: Pid, watch: &mut Watch) -> nix::Result<()> {
    loop {
        match waitid(
            Id::Pid(pid),
            WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT,
        ) {
            Ok(WaitStatus::StillAlive) => {}
            Ok(_) => return Ok(()),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(err) => return Err(err),
        }
        watch.changed().await;
    }
}

/// SIGTERM, then SIGKILL after the grace period.
async fn stop(
    signal: &(dyn Fn(Signal) + Sync),
    grace: Duration,
    exited: &mut (impl Future<Output = nix::Result<()>> + Unpin),
) -> nix::Result<()> {
    signal(Signal::SIGTERM);
    match tokio::time::timeout(grace, &mut *exited).await {
        Ok(done) => done,
        Err(_) => {
            signal(Signal::SIGKILL);
            exited.await
        }
    }
}

/// Processes the launcher started for its own use (a container engine's
/// commands, running while the tool runs), which `kill_escaped` leaves
/// alone.
static HELPERS: std::sync::Mutex<Vec<i32>> = std::sync::Mutex::new(Vec::new());

/// Starts one of the launcher's own commands; `helper_done` when it has
/// been waited for.
pub fn spawn_helper(cmd: &mut std::process::Command) -> io::Result<std::process::Child> {
    let mut helpers = HELPERS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let child = cmd.spawn()?;
    helpers.push(child.id() as i32);
    Ok(child)
}

pub fn helper_done(pid: u32) {
    let mut helpers = HELPERS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    helpers.retain(|&p| p != pid as i32);
}

/// Kills the descendants that left the tool's process group and were
/// handed to the launcher (its subreaper) when their parents died, and
/// reaps them. Cheap when there are none: one `waitpid`.
fn kill_escaped() {
    let helpers = HELPERS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone();
    if !helpers.is_empty() {
        return kill_escaped_sparing(&helpers);
    }
    for _ in 0..200 {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => {
                for pid in children_of(std::process::id()) {
                    let _ = killpg(pid, Signal::SIGKILL);
                    let _ = kill(pid, Signal::SIGKILL);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            // Reaped one; look for more.
            Ok(_) => {}
            // ECHILD: no children left.
            Err(_) => return,
        }
    }
}

/// `kill_escaped` while the launcher has commands of its own running: only
/// the other children are killed and reaped, one by one.
fn kill_escaped_sparing(helpers: &[i32]) {
    for _ in 0..200 {
        let strays: Vec<Pid> = children_of(std::process::id())
            .into_iter()
            .filter(|pid| !helpers.contains(&pid.as_raw()))
            .collect();
        if strays.is_empty() {
            return;
        }
        for pid in strays {
            let _ = killpg(pid, Signal::SIGKILL);
            let _ = kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, Some(WaitPidFlag::WNOHANG));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The processes whose parent is `parent`, from /proc.
fn children_of(parent: u32) -> Vec<Pid> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    // `pid (comm) state ppid …`: comm may hold spaces and parens.
                    let (_, rest) = stat.rsplit_once(')')?;
                    rest.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(parent)
        })
        .map(Pid::from_raw)
        .collect()
}

fn spawn_error(program: &str, source: io::Error) -> Error {
    if source.raw_os_error() == Some(nix::errno::Errno::E2BIG as i32) {
        return too_big(
            "the command and its environment are larger than the kernel accepts".into(),
        );
    }
    Error::Start {
        program: program.to_string(),
        source,
    }
}

fn too_big(message: String) -> Error {
    Error::InvalidInputs(vec![Problem::new("", message).with_hint(Some(
        "pass large values as File inputs instead of strings".into(),
    ))])
}

/// A command the kernel would refuse with E2BIG is the inputs' fault:
/// refuse it as invalid input, naming the limit.
fn fits_the_kernel(argv: &[String], env: &[(String, String)]) -> Result<(), Error> {
    for arg in argv {
        if arg.len() >= MAX_ARG {
            return Err(too_big(format!(
                "one argument of the command is {} bytes; the kernel takes at most {} bytes per argument",
                arg.len(),
                MAX_ARG - 1
            )));
        }
    }
    let limit = nix::unistd::sysconf(nix::unistd::SysconfVar::ARG_MAX)
        .ok()
        .flatten()
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(2 << 20);
    let pointer = std::mem::size_of::<usize>();
    let ours: usize = std::env::vars_os()
        .map(|(k, v)| k.len() + v.len() + 2 + pointer)
        .sum();
    let total = ours
        + argv.iter().map(|a| a.len() + 1 + pointer).sum::<usize>()
        + env
            .iter()
            .map(|(k, v)| k.len() + v.len() + 2 + pointer)
            .sum::<usize>();
    if total > limit {
        return Err(too_big(format!(
            "the command and its environment are {total} bytes; the kernel takes at most {limit} (ARG_MAX)"
        )));
    }
    Ok(())
}

mod sys {
    #![allow(unsafe_code)]
    use std::os::fd::{FromRawFd, OwnedFd};

    /// A pidfd for `pid`, if the kernel has them.
    pub fn pidfd_open(pid: nix::unistd::Pid) -> Option<OwnedFd> {
        // SAFETY: pidfd_open takes a pid and flags and returns a new
        // descriptor (or -1), which is owned from here on.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
        let fd = i32::try_from(fd).ok().filter(|&fd| fd >= 0)?;
        // SAFETY: `fd` was just returned by the kernel and is ours alone.
        Some(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Waits for a child that ends after 100 ms with `watch`.
    fn waits_for_the_end_with(make: impl FnOnce(Pid) -> Watch) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let mut child = std::process::Command::new("sleep")
                .arg("0.1")
                .spawn()
                .unwrap();
            let pid = Pid::from_raw(child.id() as i32);
            // `exited` looks before it waits: an end before the watch is
            // set up is not missed either.
            let mut watch = make(pid);
            let ended =
                tokio::time::timeout(Duration::from_secs(10), exited(pid, &mut watch)).await;
            assert!(matches!(ended, Ok(Ok(()))), "{ended:?}");
            // Not reaped by the wait: the status is still there.
            assert!(child.wait().unwrap().success());
        });
    }

    #[test]
    fn the_end_of_the_tool_is_seen_through_a_pidfd() {
        waits_for_the_end_with(|pid| {
            let watch = Watch::new(pid).unwrap();
            assert!(matches!(watch, Watch::Pidfd(_)), "this kernel has pidfds");
            watch
        });
    }

    #[test]
    fn the_end_of_the_tool_is_seen_through_sigchld_without_pidfds() {
        waits_for_the_end_with(|_| {
            Watch::Signal(
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child()).unwrap(),
            )
        });
    }
}

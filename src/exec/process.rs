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
//! * stdout and stderr are drained concurrently by one thread, whichever
//!   has data first, each to its file and to the launcher's stderr, so a
//!   full pipe never blocks the tool and nothing is held in memory; the
//!   tool's end is awaited on SIGCHLD, with no thread blocked in a wait. After the tool is gone
//!   the drain is bounded: a pipe some stray process keeps open cannot hold
//!   the run.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::sync::mpsc;
use std::time::Duration;

use nix::sys::signal::{Signal, kill, killpg};
use nix::sys::wait::{Id, WaitPidFlag, WaitStatus, waitid, waitpid};
use nix::unistd::Pid;

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
    let keep = |file: &File| {
        file.try_clone()
            .map_err(|err| Error::io("cannot keep the tool's output", err))
    };
    let stdout_file = keep(job.stdout)?;
    let stderr_file = keep(job.stderr)?;
    // Descendants that escape the tool's group come back to us when their
    // parents die, so that they can be killed too.
    let _ = nix::sys::prctl::set_child_subreaper(true);

    // Watched before the tool starts, so that its end cannot be missed.
    let mut sigchld = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child())
        .map_err(|err| Error::io("cannot handle SIGCHLD", err))?;
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
    let (out_pipe, err_pipe) = (File::from(out_pipe), File::from(err_pipe));
    let streams = [
        Stream::new(out_pipe, stdout_file),
        Stream::new(err_pipe, stderr_file),
    ];
    let (done_tx, done_rx) = mpsc::channel();
    let secrets = job.secrets.clone();
    std::thread::spawn(move || {
        let _ = done_tx.send(tee(streams, &secrets));
    });

    let mut exited = std::pin::pin!(exited(pgid, &mut sigchld));
    let (waited, stopped) = tokio::select! {
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
    };
    waited.map_err(|err| Error::io("cannot wait for the tool", err.into()))?;
    // It has exited: reaping it, with its resource usage, does not block.
    let (status, usage) = child
        .wait()
        .map_err(|err| Error::io("cannot wait for the tool", err))?;
    // The main process is gone; nothing it started may outlive the run.
    let _ = killpg(pgid, Signal::SIGKILL);
    kill_escaped();
    drain(&done_rx)?;

    Ok(Outcome {
        status,
        stopped,
        usage: Some(usage),
        out_of_memory: false,
    })
}

/// Waits, without reaping it, until the process `pid` has exited: woken
/// by SIGCHLD, so that no thread sits in a blocking wait.
async fn exited(pid: Pid, sigchld: &mut tokio::signal::unix::Signal) -> nix::Result<()> {
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
        sigchld.recv().await;
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

/// Waits for both streams to reach their end, for at most `DRAIN`.
fn drain(done: &mpsc::Receiver<io::Result<()>>) -> Result<(), Error> {
    match done.recv_timeout(DRAIN) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(err)) => Err(Error::io("cannot keep the tool's output", err)),
        // A stray process still holds a pipe: stop waiting for it.
        Err(_) => Ok(()),
    }
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

/// Copies a pipe to its file and to the launcher's stderr until EOF. A
/// closed launcher stderr stops the echo, never the copy to the file.
///
/// With secrets, the echo goes line by line, each line masked whole (and
/// written whole, so that the tool's two streams never cut into each
/// other's lines); a line longer than `LONG_LINE` goes in pieces.
/// One of the tool's streams: its pipe, the file that keeps it, and the
/// part of a line not echoed yet (only kept when secrets are masked).
struct Stream {
    pipe: File,
    file: File,
    line: Vec<u8>,
    open: bool,
}

impl Stream {
    fn new(pipe: File, file: File) -> Self {
        Self {
            pipe,
            file,
            line: Vec::new(),
            open: true,
        }
    }
}

/// Copies both streams to their files and echoes them to the launcher's
/// stderr as they come, from one thread: whichever pipe has data is read.
/// With secrets, the echo goes by lines so that a secret split between two
/// reads is still masked.
fn tee(mut streams: [Stream; 2], secrets: &crate::redact::Secrets) -> io::Result<()> {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    const LONG_LINE: usize = 64 * 1024;
    // Small at first (most tools say little, and every page of it costs a
    // fault at start), doubled whenever a read fills it.
    const MAX_READ: usize = 128 * 1024;
    let mut buf = vec![0u8; 8 * 1024];
    let mut echo = true;
    let say = |bytes: &[u8], echo: &mut bool| {
        if *echo && io::stderr().lock().write_all(bytes).is_err() {
            *echo = false;
        }
    };
    loop {
        let open: Vec<usize> = (0..2).filter(|&i| streams[i].open).collect();
        if open.is_empty() {
            break;
        }
        let ready: Vec<usize> = {
            let mut fds: Vec<PollFd> = open
                .iter()
                .map(|&i| PollFd::new(streams[i].pipe.as_fd(), PollFlags::POLLIN))
                .collect();
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(err) => return Err(err.into()),
            }
            open.iter()
                .zip(&fds)
                .filter(|(_, fd)| fd.revents().is_some_and(|r| !r.is_empty()))
                .map(|(&i, _)| i)
                .collect()
        };
        for i in ready {
            let stream = &mut streams[i];
            let n = match stream.pipe.read(&mut buf) {
                Ok(0) => {
                    stream.open = false;
                    if !stream.line.is_empty() {
                        say(&secrets.bytes(&stream.line), &mut echo);
                        stream.line.clear();
                    }
                    stream.file.flush()?;
                    continue;
                }
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            };
            stream.file.write_all(&buf[..n])?;
            if n == buf.len() && buf.len() < MAX_READ {
                buf.resize(buf.len() * 2, 0);
            }
            if secrets.is_empty() {
                say(&buf[..n], &mut echo);
                continue;
            }
            stream.line.extend_from_slice(&buf[..n]);
            let complete = match stream.line.iter().rposition(|&b| b == b'\n') {
                Some(end) => end + 1,
                None if stream.line.len() > LONG_LINE => stream.line.len(),
                None => 0,
            };
            if complete > 0 {
                say(&secrets.bytes(&stream.line[..complete]), &mut echo);
                stream.line.drain(..complete);
            }
        }
    }
    Ok(())
}

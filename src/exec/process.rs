//! The one place a tool process is spawned, watched and reaped.
//!
//! Signal policy, written down: the tool runs in its own process group with
//! stdin from /dev/null. On timeout, SIGTERM or SIGINT the whole group gets
//! SIGTERM, then SIGKILL after the grace period. When the tool's main
//! process ends, whatever it left behind in its group is killed: no orphans.
//! stdout and stderr are drained concurrently by two threads, each writing
//! to its file and to the launcher's stderr, so a full pipe never blocks the
//! tool and nothing is held in memory.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::process::Stdio;
use std::thread::JoinHandle;
use std::time::Duration;

use super::{Interrupts, Job};
use crate::error::Error;
use nix::sys::resource::{UsageWho, getrusage};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// How the tool's main process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Exited(i32),
    Signalled(i32),
}

/// Why the launcher stopped the tool, if it did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    Timeout,
    /// The launcher received this signal and passed it on.
    Signal(i32),
}

/// Resource usage of the tool and its waited-for descendants, from the kernel.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct Usage {
    pub max_rss_kb: i64,
    pub user_s: f64,
    pub sys_s: f64,
}

#[derive(Clone, Debug)]
pub struct Outcome {
    pub status: Status,
    pub stopped: Option<Stop>,
    pub usage: Usage,
}

pub async fn run(job: &Job, interrupts: &mut Interrupts) -> Result<Outcome, Error> {
    let Some((program, args)) = job.argv.split_first() else {
        return Err(Error::Internal("empty command".into()));
    };

    let stdout_file = create(&job.stdout_path)?;
    let stderr_file = create(&job.stderr_path)?;

    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .current_dir(&job.workdir)
        .envs(job.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(|source| Error::Start {
        program: program.clone(),
        source,
    })?;
    let pgid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .map(Pid::from_raw)
        .ok_or_else(|| Error::Internal("the tool has no process id".into()))?;

    let pumps = [
        child.stdout.take().map(|s| s.into_owned_fd()),
        child.stderr.take().map(|s| s.into_owned_fd()),
    ];
    let mut threads: Vec<JoinHandle<io::Result<()>>> = Vec::new();
    for (pipe, file) in pumps.into_iter().zip([stdout_file, stderr_file]) {
        let fd = pipe
            .transpose()
            .map_err(|err| Error::io("cannot read the tool's output", err))?
            .ok_or_else(|| Error::Internal("the tool's output is not piped".into()))?;
        threads.push(std::thread::spawn(move || tee(fd, file)));
    }

    let timeout = async {
        match job.timeout {
            Some(limit) => tokio::time::sleep(limit).await,
            None => std::future::pending().await,
        }
    };
    let (status, stopped) = tokio::select! {
        status = child.wait() => (status, None),
        () = timeout => (stop(&mut child, pgid, job.grace).await, Some(Stop::Timeout)),
        signal = interrupts.recv() => (stop(&mut child, pgid, job.grace).await, Some(Stop::Signal(signal))),
    };
    let status = status.map_err(|err| Error::io("cannot wait for the tool", err))?;
    // The main process is gone; nothing it started may outlive the run.
    let _ = killpg(pgid, Signal::SIGKILL);

    for thread in threads {
        match thread.join() {
            Ok(Ok(())) => {}
            Ok(Err(err)) => return Err(Error::io("cannot keep the tool's output", err)),
            Err(_) => return Err(Error::Internal("an output thread panicked".into())),
        }
    }

    use std::os::unix::process::ExitStatusExt;
    let status = match (status.code(), status.signal()) {
        (Some(code), _) => Status::Exited(code),
        (None, Some(sig)) => Status::Signalled(sig),
        (None, None) => Status::Exited(1),
    };
    Ok(Outcome {
        status,
        stopped,
        usage: usage(),
    })
}

fn create(path: &std::path::Path) -> Result<File, Error> {
    File::create(path).map_err(|err| Error::io(format!("cannot create {}", path.display()), err))
}

/// SIGTERM to the group, then SIGKILL after the grace period.
async fn stop(
    child: &mut tokio::process::Child,
    pgid: Pid,
    grace: Duration,
) -> io::Result<std::process::ExitStatus> {
    let _ = killpg(pgid, Signal::SIGTERM);
    match tokio::time::timeout(grace, child.wait()).await {
        Ok(status) => status,
        Err(_) => {
            let _ = killpg(pgid, Signal::SIGKILL);
            child.wait().await
        }
    }
}

/// Copies a pipe to its file and to the launcher's stderr until EOF.
/// A closed launcher stderr stops the echo, never the copy to the file.
fn tee(fd: OwnedFd, mut file: File) -> io::Result<()> {
    let mut pipe = File::from(fd);
    let mut buf = vec![0u8; 128 * 1024];
    let stderr = io::stderr();
    let mut echo = true;
    loop {
        let n = match pipe.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        file.write_all(&buf[..n])?;
        if echo && stderr.lock().write_all(&buf[..n]).is_err() {
            echo = false;
        }
    }
    file.flush()
}

fn usage() -> Usage {
    match getrusage(UsageWho::RUSAGE_CHILDREN) {
        Ok(ru) => {
            let secs = |tv: nix::sys::time::TimeVal| tv.tv_sec() as f64 + tv.tv_usec() as f64 / 1e6;
            Usage {
                max_rss_kb: ru.max_rss(),
                user_s: round3(secs(ru.user_time())),
                sys_s: round3(secs(ru.system_time())),
            }
        }
        Err(_) => Usage::default(),
    }
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

//! Starting a tool without copying the launcher: `clone(CLONE_VM |
//! CLONE_VFORK)`, the way `posix_spawn` starts a program, plus what
//! `posix_spawn` cannot do, the parent-death signal.
//!
//! A forked child gets a copy of the launcher's page tables, and every page
//! either side writes before the child's `exec` is copied again; the child
//! started here borrows the launcher's memory instead, while the launcher
//! waits, and runs only system calls that allocate nothing until its
//! `execve`. Everything it needs (argument and environment arrays, the
//! paths to try) is prepared by the launcher beforehand.
//!
//! In the child, in order: the launcher's signal handlers are reset (they
//! must not run in a process that shares its memory), SIGPIPE goes back to
//! its default, the three standard streams are put in place, then the
//! working directory, a process group of its own, the parent-death signal
//! (and a check that the launcher is still there), an empty signal mask,
//! and `execve` over the candidate paths as `execvp` tries them. A step
//! that fails leaves its `errno` in memory the launcher reads when it
//! resumes.

#![allow(unsafe_code)]

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};

use super::process::{Status, Usage};

/// The child's own stack: it runs a few system calls, never deep code.
const STACK: usize = 64 * 1024;

/// A program to start.
pub struct Command<'a> {
    pub argv: &'a [String],
    /// Set on top of the launcher's own environment.
    pub env: &'a [(String, String)],
    pub cwd: &'a Path,
    pub stdin: BorrowedFd<'a>,
    pub stdout: BorrowedFd<'a>,
    pub stderr: BorrowedFd<'a>,
    /// What the child gets when the launcher dies first.
    pub death_signal: i32,
}

/// A started program, to be waited for once.
pub struct Child {
    pid: i32,
}

/// What the child reads: prepared by the launcher, so that the child
/// allocates nothing.
struct Plan {
    argv: Vec<*const libc::c_char>,
    /// `argv` for `/bin/sh` running a file the kernel does not recognise
    /// (`execvp`'s fallback); its second slot is set to the file's path.
    script_argv: Vec<std::cell::Cell<*const libc::c_char>>,
    envp: Vec<*const libc::c_char>,
    candidates: Vec<CString>,
    cwd: CString,
    fds: [libc::c_int; 3],
    death_signal: libc::c_int,
    parent: libc::pid_t,
    /// The `errno` of the step that failed; 0 while none has.
    error: AtomicI32,
}

const SHELL: &std::ffi::CStr = c"/bin/sh";

pub fn spawn(command: &Command) -> io::Result<Child> {
    let Some(program) = command.argv.first() else {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty command"));
    };
    let argv = command
        .argv
        .iter()
        .map(|a| cstring(a.as_bytes()))
        .collect::<io::Result<Vec<_>>>()?;
    let env = environment(command.env)?;
    let path = command
        .env
        .iter()
        .rev()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| OsString::from(v))
        .or_else(|| std::env::var_os("PATH"));
    let candidates = candidates(program, path.as_deref())?;
    let cwd = cstring(command.cwd.as_os_str().as_bytes())?;

    let null_terminated = |strings: &[CString]| {
        strings
            .iter()
            .map(|s| s.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect::<Vec<_>>()
    };
    let script_argv = std::iter::once(SHELL.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .chain(argv.iter().skip(1).map(|s| s.as_ptr()))
        .chain(std::iter::once(std::ptr::null()))
        .map(std::cell::Cell::new)
        .collect();
    let plan = Plan {
        argv: null_terminated(&argv),
        script_argv,
        envp: null_terminated(&env),
        candidates,
        cwd,
        fds: [
            command.stdin.as_raw_fd(),
            command.stdout.as_raw_fd(),
            command.stderr.as_raw_fd(),
        ],
        death_signal: command.death_signal,
        // SAFETY: getpid has no preconditions.
        parent: unsafe { libc::getpid() },
        error: AtomicI32::new(0),
    };
    let pid = start(&plan)?;
    match plan.error.load(Ordering::Acquire) {
        0 => Ok(Child { pid }),
        errno => {
            // It has exited already (its exec failed): reap it.
            let _ = Child { pid }.wait();
            Err(io::Error::from_raw_os_error(errno))
        }
    }
}

impl Child {
    pub fn id(&self) -> i32 {
        self.pid
    }

    /// Reaps the child (blocking until it exits), with its resource usage.
    pub fn wait(&self) -> io::Result<(Status, Usage)> {
        let mut status: libc::c_int = 0;
        // SAFETY: an all-zero rusage is a valid value to be overwritten.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        loop {
            // SAFETY: both out-pointers point at live, writable values.
            let waited = unsafe { libc::wait4(self.pid, &mut status, 0, &mut usage) };
            if waited >= 0 {
                break;
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
        let status = if libc::WIFEXITED(status) {
            Status::Exited(libc::WEXITSTATUS(status))
        } else if libc::WIFSIGNALED(status) {
            Status::Signalled(libc::WTERMSIG(status))
        } else {
            Status::Exited(1)
        };
        let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        let usage = Usage {
            max_rss_kb: usage.ru_maxrss,
            user_s: round3(seconds(usage.ru_utime)),
            sys_s: round3(seconds(usage.ru_stime)),
        };
        Ok((status, usage))
    }
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn cstring(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "nul byte found in provided data",
        )
    })
}

/// The launcher's environment with `extra` set over it, as `NAME=value`.
fn environment(extra: &[(String, String)]) -> io::Result<Vec<CString>> {
    let overridden = |name: &OsStr| extra.iter().any(|(k, _)| OsStr::new(k) == name);
    let mut env = Vec::new();
    for (name, value) in std::env::vars_os() {
        if overridden(&name) {
            continue;
        }
        let mut entry = name.into_vec();
        entry.push(b'=');
        entry.extend_from_slice(value.as_bytes());
        env.push(cstring(&entry)?);
    }
    for (i, (name, value)) in extra.iter().enumerate() {
        // The last setting of a name wins, as with `Command::env`.
        if extra[i + 1..].iter().any(|(k, _)| k == name) {
            continue;
        }
        env.push(cstring(format!("{name}={value}").as_bytes())?);
    }
    Ok(env)
}

/// The paths `execvp` would try for `program`: itself when it names a
/// path, else each directory of `PATH` in turn (an empty entry is the
/// working directory; no `PATH` means `/bin:/usr/bin`).
fn candidates(program: &str, path: Option<&OsStr>) -> io::Result<Vec<CString>> {
    if program.is_empty() {
        return Err(io::Error::from_raw_os_error(libc::ENOENT));
    }
    if program.contains('/') {
        return Ok(vec![cstring(program.as_bytes())?]);
    }
    let path = path.map_or(&b"/bin:/usr/bin"[..], |p| p.as_bytes());
    path.split(|&b| b == b':')
        .map(|dir| {
            let mut full = if dir.is_empty() {
                Vec::new()
            } else {
                let mut d = dir.to_vec();
                d.push(b'/');
                d
            };
            full.extend_from_slice(program.as_bytes());
            cstring(&full)
        })
        .collect()
}

/// Starts the child and returns once it has called `execve` or exited.
fn start(plan: &Plan) -> io::Result<i32> {
    // SAFETY: an anonymous private mapping, unmapped below, after the
    // child is done with it (CLONE_VFORK returns once it has exec'd or
    // exited).
    let stack = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            STACK,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
            -1,
            0,
        )
    };
    if stack == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    // No signal handler of the launcher may run in the child: all signals
    // stay blocked until the child has reset the handlers.
    // SAFETY: sigset_t values are initialised by sigfillset before use.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    let mut before: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointers to sigset_t values on this stack.
    unsafe {
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut before);
    }
    // SAFETY: the child runs `child` on its own stack (the top of the
    // mapping, which is 16-byte aligned) with a pointer to `plan`, which
    // outlives it: with CLONE_VFORK this thread is suspended until the
    // child has exec'd or exited.
    let pid = unsafe {
        libc::clone(
            child,
            stack.cast::<u8>().add(STACK).cast(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            std::ptr::from_ref(plan).cast_mut().cast(),
        )
    };
    let cloned = if pid < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(pid)
    };
    // SAFETY: restores the mask saved above; the mapping is no longer used.
    unsafe {
        libc::pthread_sigmask(libc::SIG_SETMASK, &before, std::ptr::null_mut());
        libc::munmap(stack, STACK);
    }
    cloned
}

/// The child, up to its `execve`. Only system calls: it shares the
/// launcher's memory, so it must not allocate or take a lock.
extern "C" fn child(plan: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `start` passes a pointer to a live Plan.
    let plan = unsafe { &*plan.cast::<Plan>() };
    // SAFETY: see `prepare_and_exec`.
    let errno = unsafe { prepare_and_exec(plan) };
    plan.error.store(errno.max(1), Ordering::Release);
    // SAFETY: ends this process without running anything of the launcher.
    unsafe { libc::_exit(127) }
}

/// The calling thread's `errno` (nix reads it in place: no allocation).
fn errno() -> libc::c_int {
    nix::errno::Errno::last_raw()
}

/// Returns the `errno` of the step that failed; returns only on failure.
///
/// SAFETY: call only in the child started by `start`, with the pointers of
/// `plan` valid (they point into the suspended launcher's memory).
unsafe fn prepare_and_exec(plan: &Plan) -> libc::c_int {
    unsafe {
        // Handlers reset to the default; ignored signals stay ignored, as
        // across any exec, except SIGPIPE, which the launcher ignores for
        // itself only. Signals glibc keeps for itself are refused (EINVAL)
        // and skipped.
        for signal in 1..=libc::SIGRTMAX() {
            if signal == libc::SIGKILL || signal == libc::SIGSTOP {
                continue;
            }
            let mut action: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(signal, std::ptr::null(), &mut action) != 0 {
                continue;
            }
            let handled = action.sa_sigaction != libc::SIG_DFL
                && (action.sa_sigaction != libc::SIG_IGN || signal == libc::SIGPIPE);
            if handled {
                let mut default: libc::sigaction = std::mem::zeroed();
                default.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(signal, &default, std::ptr::null_mut());
            }
        }
        for (target, &fd) in plan.fds.iter().enumerate() {
            let target = target as libc::c_int;
            if fd == target {
                // dup2 onto itself would leave close-on-exec set.
                let flags = libc::fcntl(fd, libc::F_GETFD);
                if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                    return errno();
                }
            } else if libc::dup2(fd, target) < 0 {
                return errno();
            }
        }
        if libc::chdir(plan.cwd.as_ptr()) != 0 {
            return errno();
        }
        if libc::setpgid(0, 0) != 0 {
            return errno();
        }
        if libc::prctl(
            libc::PR_SET_PDEATHSIG,
            plan.death_signal as libc::c_ulong,
            0,
            0,
            0,
        ) != 0
        {
            return errno();
        }
        // The launcher may have died before the prctl took effect.
        if libc::getppid() != plan.parent {
            return libc::ESRCH;
        }
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::pthread_sigmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());

        let mut denied = false;
        let mut last = libc::ENOENT;
        for path in &plan.candidates {
            libc::execve(path.as_ptr(), plan.argv.as_ptr(), plan.envp.as_ptr());
            match errno() {
                libc::ENOEXEC => {
                    plan.script_argv[1].set(path.as_ptr());
                    libc::execve(
                        SHELL.as_ptr(),
                        plan.script_argv.as_ptr().cast(),
                        plan.envp.as_ptr(),
                    );
                    return errno();
                }
                libc::EACCES => {
                    denied = true;
                    last = libc::EACCES;
                }
                e @ (libc::ENOENT
                | libc::ENOTDIR
                | libc::ESTALE
                | libc::ENODEV
                | libc::ETIMEDOUT) => last = e,
                e => return e,
            }
        }
        if denied { libc::EACCES } else { last }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(c: &[CString]) -> Vec<&str> {
        c.iter().map(|s| s.to_str().unwrap_or("?")).collect()
    }

    #[test]
    fn a_program_is_looked_up_in_path_as_execvp_does() {
        let found = candidates("blastn", Some(OsStr::new("/opt/bin::/usr/bin"))).unwrap();
        assert_eq!(
            names(&found),
            ["/opt/bin/blastn", "blastn", "/usr/bin/blastn"]
        );
        let found = candidates("./tool", Some(OsStr::new("/opt/bin"))).unwrap();
        assert_eq!(names(&found), ["./tool"]);
        let found = candidates("sh", None).unwrap();
        assert_eq!(names(&found), ["/bin/sh", "/usr/bin/sh"]);
        assert!(candidates("", None).is_err());
    }

    #[test]
    fn the_last_setting_of_a_variable_wins() {
        let env = environment(&[
            ("OMNI_SPAWN_TEST".into(), "1".into()),
            ("OMNI_SPAWN_TEST".into(), "2".into()),
        ])
        .unwrap();
        let ours: Vec<_> = env
            .iter()
            .filter(|e| e.as_bytes().starts_with(b"OMNI_SPAWN_TEST="))
            .collect();
        assert_eq!(ours.len(), 1);
        assert_eq!(ours[0].as_bytes(), b"OMNI_SPAWN_TEST=2");
        assert!(environment(&[("A".into(), "x\0y".into())]).is_err());
    }
}

//! What the process needs before anything else runs.
//!
//! The binary starts from C's `main` (see `main.rs`), not through the Rust
//! runtime's start-up, which reads /proc/self/maps to find the main
//! thread's stack guard and sets up an alternate signal stack: a
//! measurable part of a run that lasts a few milliseconds. The two things
//! of that start-up the launcher relies on are done here.

/// Prepares the process: standard streams that were closed are opened on
/// /dev/null (so no file the launcher opens becomes its stdout by
/// accident), and SIGPIPE is ignored (a reader that goes away makes a
/// write fail, it does not kill the launcher before its results are
/// stored). Tools still start with SIGPIPE at its default: the standard
/// library resets it for every process it spawns.
pub fn prepare() {
    sys::open_closed_standard_streams();
    sys::ignore_sigpipe();
}

#[allow(unsafe_code)]
mod sys {
    use nix::libc;

    pub fn open_closed_standard_streams() {
        // One call asks about all three: a closed one comes back POLLNVAL.
        let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
            fd,
            events: 0,
            revents: 0,
        });
        // SAFETY: `poll` writes only into the three entries it is given.
        let polled = unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) } != -1;
        for entry in fds {
            let fd = entry.fd;
            let closed = if polled {
                entry.revents & libc::POLLNVAL != 0
            } else {
                // SAFETY: `fcntl(F_GETFD)` only asks whether `fd` is open.
                let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
                flags == -1 && nix::errno::Errno::last() == nix::errno::Errno::EBADF
            };
            if closed {
                // SAFETY: a constant, NUL-terminated path; the lowest free
                // descriptor, `fd`, is the one opened, and it is kept
                // open for the life of the process on purpose.
                unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) };
            }
        }
    }

    pub fn ignore_sigpipe() {
        use nix::sys::signal::{SigHandler, Signal, signal};
        // SAFETY: ignoring a signal installs no handler, so there is no
        // code that could run at an unsafe moment.
        let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigIgn) };
    }
}

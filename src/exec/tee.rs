//! The tool's stdout and stderr, copied as they come to the files that
//! keep them and echoed to the launcher's stderr, on the launcher's own
//! thread, inside the run's event loop: while it waits for output, the
//! time limit and signals still act.
//!
//! Whichever pipe has data is read, so a full pipe never blocks the tool,
//! and nothing is held in memory. The echo never blocks the launcher: when
//! its stderr is a pipe, socket or terminal, it is written in pieces the
//! kernel takes at once (`PIPE_BUF`), each after `poll` says there is room;
//! while there is none, the launcher waits for room in the event loop and
//! stops reading, so a slow reader holds back the tool (its pipes fill),
//! never the launcher. A closed launcher stderr stops the echo, never the
//! copy to the files.
//!
//! With secrets, the echo goes line by line, each line masked whole (and
//! written whole, so that the tool's two streams never cut into each
//! other's lines); a line longer than `LONG_LINE` goes in pieces.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use tokio::io::Interest;
use tokio::io::unix::{AsyncFd, AsyncFdRegisterError};

use crate::redact::Secrets;

const LONG_LINE: usize = 64 * 1024;
/// Reads start small (most tools say little, and every page of buffer
/// costs a fault at start) and double whenever a read fills them.
const FIRST_READ: usize = 8 * 1024;
const MAX_READ: usize = 128 * 1024;
/// What a pipe takes whole, without blocking, once `poll` says it has room.
const PIECE: usize = libc::PIPE_BUF;

/// One of the tool's streams: its pipe, the file that keeps it, and the
/// part of a line not echoed yet (only kept when secrets are masked).
struct Stream<'a> {
    pipe: AsyncFd<File>,
    file: &'a File,
    line: Vec<u8>,
    open: bool,
}

/// Where the echo goes.
enum Echo {
    Off,
    /// A file, or a device without readiness (/dev/null): never blocks.
    Direct(File),
    /// A pipe, socket or terminal: written when it has room.
    Polled(AsyncFd<OwnedFd>),
}

pub struct Tee<'a> {
    streams: [Stream<'a>; 2],
    echo: Echo,
    secrets: Secrets,
    buf: Vec<u8>,
}

impl<'a> Tee<'a> {
    /// `pipes`: the read ends of the tool's stdout and stderr; `files`:
    /// where each is kept. Call inside the tokio runtime.
    pub fn new(pipes: [OwnedFd; 2], files: [&'a File; 2], secrets: Secrets) -> io::Result<Self> {
        let [out_pipe, err_pipe] = pipes;
        let [out_file, err_file] = files;
        let stream = |pipe: OwnedFd, file: &'a File| -> io::Result<Stream<'a>> {
            // Our own end of our own pipe: non-blocking changes nothing
            // for anyone else.
            nix::fcntl::fcntl(
                &pipe,
                nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
            )?;
            Ok(Stream {
                pipe: register(File::from(pipe), Interest::READABLE)
                    .map_err(|e| e.into_parts().1)?,
                file,
                line: Vec::new(),
                open: true,
            })
        };
        Ok(Self {
            streams: [stream(out_pipe, out_file)?, stream(err_pipe, err_file)?],
            echo: Echo::new(),
            secrets,
            buf: vec![0; FIRST_READ],
        })
    }

    /// Copies both streams until both have ended.
    pub async fn run(&mut self) -> io::Result<()> {
        loop {
            let [out, err] = &self.streams;
            let (i, mut ready) = tokio::select! {
                ready = out.pipe.readable(), if out.open => (0, ready?),
                ready = err.pipe.readable(), if err.open => (1, ready?),
                else => return Ok(()),
            };
            let buf = &mut self.buf;
            let read = match ready.try_io(|pipe| pipe.get_ref().read(buf)) {
                Ok(read) => read,
                // Drained: wait for more.
                Err(_would_block) => continue,
            };
            drop(ready);
            let n = match read {
                Ok(0) => {
                    let stream = &mut self.streams[i];
                    stream.open = false;
                    if !stream.line.is_empty() {
                        let rest = std::mem::take(&mut stream.line);
                        self.echo.say(&self.secrets.bytes(&rest)).await;
                    }
                    continue;
                }
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            };
            let stream = &mut self.streams[i];
            let mut file = stream.file;
            file.write_all(&self.buf[..n])?;
            if self.secrets.is_empty() {
                self.echo.say(&self.buf[..n]).await;
            } else {
                stream.line.extend_from_slice(&self.buf[..n]);
                let complete = match stream.line.iter().rposition(|&b| b == b'\n') {
                    Some(end) => end + 1,
                    None if stream.line.len() > LONG_LINE => stream.line.len(),
                    None => 0,
                };
                if complete > 0 {
                    let masked = self.secrets.bytes(&stream.line[..complete]);
                    stream.line.drain(..complete);
                    self.echo.say(&masked).await;
                }
            }
            if n == self.buf.len() && self.buf.len() < MAX_READ {
                self.buf.resize(self.buf.len() * 2, 0);
            }
        }
    }
}

impl Echo {
    /// The launcher's stderr, as the echo sees it.
    fn new() -> Self {
        let Ok(stderr) = io::stderr().as_fd().try_clone_to_owned() else {
            return Echo::Off;
        };
        match register(stderr, Interest::WRITABLE) {
            Ok(fd) => Echo::Polled(fd),
            // Regular files and devices such as /dev/null have no
            // readiness (EPERM): they take every write at once.
            Err(refused) => Echo::Direct(File::from(refused.into_parts().0)),
        }
    }

    async fn say(&mut self, mut bytes: &[u8]) {
        let fd = match self {
            Echo::Off => return,
            Echo::Direct(file) => {
                if file.write_all(bytes).is_err() {
                    *self = Echo::Off;
                }
                return;
            }
            Echo::Polled(fd) => fd,
        };
        while !bytes.is_empty() {
            if !has_room(fd.get_ref()) {
                match fd.writable().await {
                    Ok(mut ready) => ready.clear_ready(),
                    Err(_) => {
                        *self = Echo::Off;
                        return;
                    }
                }
                continue;
            }
            let piece = &bytes[..bytes.len().min(PIECE)];
            match nix::unistd::write(fd.get_ref(), piece) {
                Ok(n) => bytes = &bytes[n..],
                Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => {}
                Err(_) => {
                    *self = Echo::Off;
                    return;
                }
            }
        }
    }
}

/// Whether a write of `PIECE` bytes would be taken now (or fail at once:
/// a closed reader is found by the write).
fn has_room(fd: &OwnedFd) -> bool {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    loop {
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLOUT)];
        match poll(&mut fds, PollTimeout::ZERO) {
            Ok(n) => return n > 0,
            Err(nix::errno::Errno::EINTR) => continue,
            // Let the write say what is wrong.
            Err(_) => return true,
        }
    }
}

/// Registers a descriptor the value owns with the event loop.
#[allow(unsafe_code)]
pub(super) fn register<T: AsRawFd + Into<OwnedFd>>(
    owner: T,
    interest: Interest,
) -> Result<AsyncFd<T>, AsyncFdRegisterError<T>> {
    // SAFETY: `owner` owns its descriptor (it converts into an OwnedFd), so
    // the descriptor stays open and the same until the AsyncFd drops it.
    unsafe { AsyncFd::register_with_interest(owner, interest) }
}

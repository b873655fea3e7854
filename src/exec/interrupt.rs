//! SIGTERM and SIGINT to the launcher, caught for the whole run so that
//! staging, execution and uploads all end with a results.json that says
//! `signalled`, never silently.

use nix::sys::signal::Signal;
use tokio::signal::unix::{SignalKind, signal};

use crate::error::Error;

pub struct Interrupts {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Interrupts {
    /// Starts catching the signals; call inside the tokio runtime.
    pub fn new() -> Result<Self, Error> {
        Ok(Self {
            term: signal(SignalKind::terminate())
                .map_err(|err| Error::io("cannot handle SIGTERM", err))?,
            int: signal(SignalKind::interrupt())
                .map_err(|err| Error::io("cannot handle SIGINT", err))?,
        })
    }

    /// Waits for the next signal; returns its number.
    pub async fn recv(&mut self) -> i32 {
        tokio::select! {
            _ = self.term.recv() => Signal::SIGTERM as i32,
            _ = self.int.recv() => Signal::SIGINT as i32,
        }
    }

    /// Runs `work` unless a signal comes first.
    pub async fn guard<T>(
        &mut self,
        work: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        tokio::select! {
            result = work => result,
            signal = self.recv() => Err(Error::Signalled { signal, by_launcher: true }),
        }
    }
}

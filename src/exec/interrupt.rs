//! When a run must stop: SIGTERM, SIGINT, SIGHUP or SIGQUIT to the
//! launcher, or the run's time limit. Caught for the whole run, so that
//! staging, execution, collection and uploads all end with a results.json
//! that says `signalled` or `timeout`, never silently.

use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::signal::unix::{SignalKind, signal};
use tokio::time::Instant;

use crate::error::Error;

/// Why the launcher stopped a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The time limit (of this many seconds) was reached.
    Timeout(u64),
    /// The launcher received this signal.
    Signal(i32),
}

impl Stop {
    pub fn error(self) -> Error {
        match self {
            Stop::Timeout(limit) => Error::Timeout(limit),
            Stop::Signal(signal) => Error::Signalled {
                signal,
                by_launcher: true,
            },
        }
    }
}

pub struct Interrupts {
    signals: Vec<(tokio::signal::unix::Signal, Signal)>,
    /// When the time limit runs out, and the limit.
    deadline: Option<(Instant, u64)>,
}

impl Interrupts {
    /// Starts catching the signals; call inside the tokio runtime.
    pub fn new() -> Result<Self, Error> {
        let mut signals = Vec::new();
        for (kind, sig) in [
            (SignalKind::terminate(), Signal::SIGTERM),
            (SignalKind::interrupt(), Signal::SIGINT),
            (SignalKind::hangup(), Signal::SIGHUP),
            (SignalKind::quit(), Signal::SIGQUIT),
        ] {
            let stream = signal(kind)
                .map_err(|err| Error::io(format!("cannot handle {}", sig.as_str()), err))?;
            signals.push((stream, sig));
        }
        Ok(Self {
            signals,
            deadline: None,
        })
    }

    /// Starts the time limit, counted from `started`.
    pub fn limit(&mut self, started: Instant, limit: Duration) {
        self.deadline = Some((started + limit, limit.as_secs()));
    }

    /// Waits for the next reason to stop.
    pub async fn next(&mut self) -> Stop {
        let deadline = self.deadline;
        let limit = async move {
            match deadline {
                Some((at, secs)) => {
                    tokio::time::sleep_until(at).await;
                    secs
                }
                None => std::future::pending().await,
            }
        };
        let signals = futures::future::select_all(
            self.signals
                .iter_mut()
                .map(|(stream, sig)| Box::pin(async move { stream.recv().await.map(|_| *sig) })),
        );
        tokio::select! {
            secs = limit => Stop::Timeout(secs),
            (received, _, _) = signals => match received {
                Some(sig) => Stop::Signal(sig as i32),
                // A closed signal stream cannot happen while we hold it.
                None => std::future::pending().await,
            },
        }
    }

    /// Runs `work` unless a reason to stop comes first.
    pub async fn guard<T>(
        &mut self,
        work: impl Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        tokio::select! {
            result = work => result,
            stop = self.next() => Err(stop.error()),
        }
    }
}

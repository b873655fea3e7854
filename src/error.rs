//! The launcher's errors, their `kind` in results.json and their exit codes
//! (DESIGN.md §8).
//!
//! Every failure the user can cause or meet ends up here; `main` turns one
//! into a message on stderr and an exit code. Nothing else picks exit codes.

use std::fmt;

use crate::diag::Diagnostic;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The failure kinds of DESIGN.md §8, as spelled in results.json.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    ToolFailed,
    Usage,
    InvalidInputs,
    InputMissing,
    StoreUnavailable,
    InvalidSpec,
    Timeout,
    NotExecutable,
    NotFound,
    Signalled,
    /// An output the spec promises was not produced, or could not be read.
    OutputMissing,
    /// A bug or an environment failure of the launcher itself (disk full…).
    Internal,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::ToolFailed => "tool_failed",
            Kind::Usage => "usage",
            Kind::InvalidInputs => "invalid_inputs",
            Kind::InputMissing => "input_missing",
            Kind::StoreUnavailable => "store_unavailable",
            Kind::InvalidSpec => "invalid_spec",
            Kind::Timeout => "timeout",
            Kind::NotExecutable => "not_executable",
            Kind::NotFound => "not_found",
            Kind::Signalled => "signalled",
            Kind::OutputMissing => "output_missing",
            Kind::Internal => "internal",
        }
    }
}

/// BSD sysexits values, as DESIGN.md §8 uses them.
pub mod code {
    pub const USAGE: i32 = 64;
    pub const DATAERR: i32 = 65;
    pub const NOINPUT: i32 = 66;
    pub const SOFTWARE: i32 = 70;
    pub const TEMPFAIL: i32 = 75;
    pub const CONFIG: i32 = 78;
    pub const TIMEOUT: i32 = 124;
    pub const NOT_EXECUTABLE: i32 = 126;
    pub const NOT_FOUND: i32 = 127;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error("{}", list("the inputs are invalid", .0))]
    InvalidInputs(Vec<Diagnostic>),
    #[error("{0}")]
    InputMissing(String),
    #[error("{0}")]
    StoreUnavailable(String),
    #[error("{}", list("the spec is invalid", .0))]
    InvalidSpec(Vec<Diagnostic>),
    #[error("the tool exited with status {0}")]
    ToolFailed(i32),
    #[error("time limit of {0} s reached; the tool was stopped")]
    Timeout(u64),
    #[error("{0}")]
    NotExecutable(String),
    #[error("{0}")]
    NotFound(String),
    /// `by_launcher`: the launcher itself was asked to stop and passed the
    /// signal on, as opposed to the tool dying of a signal on its own.
    #[error("{}", signal_message(*.signal, *.by_launcher))]
    Signalled { signal: i32, by_launcher: bool },
    #[error("{0}")]
    OutputMissing(String),
    #[error("{0}")]
    Internal(String),
}

fn list(title: &str, diagnostics: &[Diagnostic]) -> String {
    let mut out = format!("{title}:");
    for d in diagnostics {
        out.push_str("\n  ");
        out.push_str(&d.to_string());
    }
    out
}

fn signal_message(signal: i32, by_launcher: bool) -> String {
    let name = signal_name(signal);
    if by_launcher {
        format!("the launcher received {name} and stopped the run")
    } else {
        format!("the tool was killed by {name}")
    }
}

pub fn signal_name(signal: i32) -> String {
    nix::sys::signal::Signal::try_from(signal)
        .map(|s| s.as_str().to_string())
        .unwrap_or_else(|_| format!("signal {signal}"))
}

impl Error {
    pub fn kind(&self) -> Kind {
        match self {
            Error::Usage(_) => Kind::Usage,
            Error::InvalidInputs(_) => Kind::InvalidInputs,
            Error::InputMissing(_) => Kind::InputMissing,
            Error::StoreUnavailable(_) => Kind::StoreUnavailable,
            Error::InvalidSpec(_) => Kind::InvalidSpec,
            Error::ToolFailed(_) => Kind::ToolFailed,
            Error::Timeout(_) => Kind::Timeout,
            Error::NotExecutable(_) => Kind::NotExecutable,
            Error::NotFound(_) => Kind::NotFound,
            Error::Signalled { .. } => Kind::Signalled,
            Error::OutputMissing(_) => Kind::OutputMissing,
            Error::Internal(_) => Kind::Internal,
        }
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => code::USAGE,
            Error::InvalidInputs(_) => code::DATAERR,
            Error::InputMissing(_) => code::NOINPUT,
            Error::StoreUnavailable(_) => code::TEMPFAIL,
            Error::InvalidSpec(_) => code::CONFIG,
            // A tool that exits non-zero keeps its own code; 0 cannot mean failure.
            Error::ToolFailed(status) => {
                if *status == 0 {
                    1
                } else {
                    *status
                }
            }
            Error::Timeout(_) => code::TIMEOUT,
            Error::NotExecutable(_) => code::NOT_EXECUTABLE,
            Error::NotFound(_) => code::NOT_FOUND,
            Error::Signalled { signal, .. } => 128 + signal,
            // The tool ran but broke its spec's promise: not retryable.
            Error::OutputMissing(_) | Error::Internal(_) => code::SOFTWARE,
        }
    }

    pub fn internal(context: impl fmt::Display, err: impl fmt::Display) -> Self {
        Error::Internal(format!("{context}: {err}"))
    }
}

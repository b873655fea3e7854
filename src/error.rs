//! The launcher's errors, their `kind` in results.json and their exit codes
//! (DESIGN.md §8).
//!
//! Every failure the user can cause or meet ends up here; `app` turns one
//! into a message on stderr and an exit code. Nothing else picks exit codes.
//! Errors keep their cause as a `source()` chain; `message` writes the chain
//! as one line.

use std::fmt;

use crate::diag::Problem;

/// The failure kinds of DESIGN.md §8, as spelled in results.json.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    ToolFailed,
    Usage,
    InvalidInputs,
    InputMissing,
    /// The store answered with a permanent error: retrying cannot help.
    StoreFailed,
    /// The store kept failing with transient errors: retrying may help.
    StoreUnavailable,
    InvalidSpec,
    Timeout,
    NotExecutable,
    NotFound,
    Signalled,
    /// An output the spec promises was not produced, or could not be read.
    OutputMissing,
    /// The runner knows the tool was killed for exceeding its memory limit.
    OutOfMemory,
    /// The launcher's own local environment failed: its work directory or
    /// files could not be created or written (permissions, disk full).
    Environment,
    /// A bug in the launcher.
    Internal,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::ToolFailed => "tool_failed",
            Kind::Usage => "usage",
            Kind::InvalidInputs => "invalid_inputs",
            Kind::InputMissing => "input_missing",
            Kind::StoreFailed => "store_failed",
            Kind::StoreUnavailable => "store_unavailable",
            Kind::InvalidSpec => "invalid_spec",
            Kind::Timeout => "timeout",
            Kind::NotExecutable => "not_executable",
            Kind::NotFound => "not_found",
            Kind::Signalled => "signalled",
            Kind::OutputMissing => "output_missing",
            Kind::OutOfMemory => "out_of_memory",
            Kind::Environment => "environment",
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
    pub const CANTCREAT: i32 = 73;
    pub const IOERR: i32 = 74;
    pub const TEMPFAIL: i32 = 75;
    pub const CONFIG: i32 = 78;
    pub const TIMEOUT: i32 = 124;
    pub const NOT_EXECUTABLE: i32 = 126;
    pub const NOT_FOUND: i32 = 127;
}

/// What an object store said, reduced to what a retry policy needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Worth retrying the job: 5xx, throttling, resets, timeouts.
    Transient,
    /// Retrying cannot help: no such bucket, access denied, no credentials.
    Permanent,
    /// A key the launcher cannot use (empty or `..` segments, control
    /// characters).
    InvalidKey,
    /// A conditional write was refused: the object is not the one it was
    /// allowed to replace.
    Conflict,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    /// The result target already holds another job's results.json, which
    /// a run never replaces unasked (a usage error: the store is left as
    /// it is).
    #[error("{0}")]
    ResultsExist(String),
    #[error("{}", list("the inputs are invalid", .0))]
    InvalidInputs(Vec<Problem>),
    #[error("{}", join(.0))]
    InputMissing(Vec<Problem>),
    /// A store could not be read or written; `detail` says why in one line.
    #[error("{what} {uri}: {detail}")]
    Store {
        /// What was being done: "cannot store", "cannot read" …
        what: &'static str,
        uri: String,
        fault: Fault,
        detail: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    #[error("{}", list("the spec is invalid", .0))]
    InvalidSpec(Vec<Problem>),
    /// `said`: the end of the tool's stderr and where all of it is kept.
    #[error("the tool exited with status {status}{}", said.as_deref().map(|s| format!("; {s}")).unwrap_or_default())]
    ToolFailed { status: i32, said: Option<String> },
    #[error("time limit of {0} s reached; the tool was stopped")]
    Timeout(u64),
    /// The program could not be started at all.
    #[error("cannot start `{program}`")]
    Start {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    NotExecutable(String),
    #[error("{0}")]
    NotFound(String),
    /// `by_launcher`: the launcher itself was asked to stop and passed the
    /// signal on, as opposed to the tool dying of a signal on its own.
    #[error("{}", signal_message(*.signal, *.by_launcher))]
    Signalled { signal: i32, by_launcher: bool },
    #[error("the tool was killed for exceeding its memory limit")]
    OutOfMemory,
    #[error("output `{output}`: {message}")]
    OutputMissing {
        output: String,
        message: String,
        #[source]
        source: Option<std::io::Error>,
    },
    /// A local file or directory of the launcher's could not be used.
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Internal(String),
}

fn list(title: &str, problems: &[Problem]) -> String {
    let mut out = format!("{title}:");
    for p in problems {
        out.push_str("\n  ");
        out.push_str(&p.to_string());
    }
    out
}

fn join(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
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
            Error::Usage(_) | Error::ResultsExist(_) => Kind::Usage,
            Error::InvalidInputs(_) => Kind::InvalidInputs,
            Error::InputMissing(_) => Kind::InputMissing,
            Error::Store {
                fault: Fault::Transient,
                ..
            } => Kind::StoreUnavailable,
            Error::Store { .. } => Kind::StoreFailed,
            Error::InvalidSpec(_) => Kind::InvalidSpec,
            Error::ToolFailed { .. } => Kind::ToolFailed,
            Error::Timeout(_) => Kind::Timeout,
            Error::Start { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                Kind::NotFound
            }
            Error::Start { .. } | Error::NotExecutable(_) => Kind::NotExecutable,
            Error::NotFound(_) => Kind::NotFound,
            Error::Signalled { .. } => Kind::Signalled,
            Error::OutputMissing { .. } => Kind::OutputMissing,
            Error::OutOfMemory => Kind::OutOfMemory,
            Error::Io { .. } => Kind::Environment,
            Error::Internal(_) => Kind::Internal,
        }
    }

    pub fn exit_code(&self) -> i32 {
        match self.kind() {
            Kind::Usage => code::USAGE,
            Kind::InvalidInputs => code::DATAERR,
            Kind::InputMissing => code::NOINPUT,
            Kind::StoreFailed => code::IOERR,
            Kind::StoreUnavailable => code::TEMPFAIL,
            Kind::InvalidSpec => code::CONFIG,
            // A tool that exits non-zero keeps its own code; 0 cannot mean failure.
            Kind::ToolFailed => match self {
                Error::ToolFailed { status, .. } if *status != 0 => *status,
                _ => 1,
            },
            Kind::Timeout => code::TIMEOUT,
            Kind::NotExecutable => code::NOT_EXECUTABLE,
            Kind::NotFound => code::NOT_FOUND,
            Kind::Signalled => match self {
                Error::Signalled { signal, .. } => 128 + signal,
                _ => 128,
            },
            Kind::Environment => code::CANTCREAT,
            Kind::OutOfMemory => 128 + 9,
            // The tool ran but broke its spec's promise: not retryable.
            Kind::OutputMissing | Kind::Internal => code::SOFTWARE,
        }
    }

    /// The error and its causes as one line: `context: cause: cause`.
    pub fn message(&self) -> String {
        let mut text = self.to_string();
        if let Error::Store { .. } = self {
            // Its detail already says why, plainly; the client's chain is long.
            return text;
        }
        let mut source = std::error::Error::source(self);
        while let Some(cause) = source {
            let line = one_line(&cause.to_string());
            // Some causes already print their own cause; say it once.
            if !line.is_empty() && !text.contains(&line) {
                text.push_str(": ");
                text.push_str(&line);
            }
            source = cause.source();
        }
        text
    }

    /// An I/O failure of the launcher's own files, with what it was doing.
    pub fn io(context: impl fmt::Display, source: std::io::Error) -> Self {
        Error::Io {
            context: context.to_string(),
            source,
        }
    }
}

/// Collapses whitespace, so that multi-line causes fit one line.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_walks_the_chain_once() {
        let err = Error::io(
            "cannot create /w",
            std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied"),
        );
        assert_eq!(err.message(), "cannot create /w: denied");
        assert_eq!(err.kind(), Kind::Environment);
        let start = Error::Start {
            program: "x".into(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        };
        assert_eq!(start.exit_code(), 127);
    }
}

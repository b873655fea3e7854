//! Stage 9: results.json (DESIGN.md §7), a superset of omni-tool-runtime's
//! `{ok, tool_id, run_id, results}`, written on every path once the contract
//! is read.
//!
//! Owns the document's shape only; `run` fills it and `store` carries it.

use serde::Serialize;

use crate::collect::Outputs;
use crate::error::Error;
use crate::exec::Usage;
use crate::inputs::{Inputs, Resources};
use crate::spec::Spec;

#[derive(Debug, Serialize)]
pub struct Results {
    pub ok: bool,
    pub tool_id: String,
    pub run_id: String,
    pub results: Outputs,
    /// The run failed and `results` holds what the tool left that could be
    /// collected (`--upload-on-failure`), not a complete set.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
    pub exit_code: i32,
    pub error: Option<ErrorInfo>,
    pub inputs: Inputs,
    pub command: Option<String>,
    /// What makes this job this job: a digest of its inputs (File and
    /// Directory inputs by location and checksum), with the spec's sha256
    /// what a rerun is compared by.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inputs_digest: Option<String>,
    pub started_at: String,
    pub finished_at: Option<String>,
    pub duration_s: Option<f64>,
    pub usage: Option<Usage>,
    pub resources: Option<Resources>,
    pub workdir: Option<String>,
    pub launcher: Launcher,
    pub spec: Option<SpecInfo>,
    /// Where the tool's stdout and stderr were stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logs: Option<LogLocations>,
    /// Masked in everything written from this document.
    #[serde(skip)]
    pub secrets: crate::redact::Secrets,
}

#[derive(Debug, Serialize)]
pub struct ErrorInfo {
    pub kind: &'static str,
    pub message: String,
    /// What had already gone wrong when storing failed too: the run's own
    /// error, which the exit code (the store's) no longer shows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<Previous>,
}

#[derive(Debug, Serialize)]
pub struct Previous {
    pub kind: &'static str,
    pub message: String,
    pub exit_code: i32,
}

impl ErrorInfo {
    fn new(err: &Error, previous: Option<&Error>) -> Self {
        Self {
            kind: err.kind().as_str(),
            message: err.message(),
            previous: previous.map(|p| Previous {
                kind: p.kind().as_str(),
                message: p.message(),
                exit_code: p.exit_code(),
            }),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Launcher {
    pub name: &'static str,
    pub version: &'static str,
    pub runner: String,
    /// The machine the run ran on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// The batch system's job this run was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<crate::contract::BatchJob>,
    /// The image and engine a container runner used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<crate::exec::ContainerInfo>,
}

#[derive(Debug, Default, Serialize)]
pub struct LogLocations {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdout: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stderr: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct SpecInfo {
    pub id: String,
    pub version: Option<String>,
    pub sha256: String,
    pub path: String,
}

impl From<&Spec> for SpecInfo {
    fn from(spec: &Spec) -> Self {
        Self {
            id: spec.id.clone(),
            version: spec.version.clone(),
            sha256: spec.sha256.clone(),
            path: spec.source.clone(),
        }
    }
}

/// `sha256:<hex>` of the inputs as they identify a job: values as given,
/// a File by its location and checksum (or size, when not hashed), a
/// Directory by its location and listing; object keys sorted.
pub fn inputs_digest(inputs: &Inputs) -> String {
    fn identity(value: serde_json::Value) -> serde_json::Value {
        use serde_json::Value as J;
        match value {
            J::Object(map) => {
                let keep: &[&str] = match map.get("class").and_then(J::as_str) {
                    Some("File") if map.contains_key("sha256") => &["class", "location", "sha256"],
                    Some("File") => &["class", "location", "size"],
                    Some("Directory") => &["class", "location", "listing"],
                    _ => &[],
                };
                let sorted: std::collections::BTreeMap<String, J> = map
                    .into_iter()
                    .filter(|(k, _)| keep.is_empty() || keep.contains(&k.as_str()))
                    .map(|(k, v)| (k, identity(v)))
                    .collect();
                J::Object(sorted.into_iter().collect())
            }
            J::Array(items) => J::Array(items.into_iter().map(identity).collect()),
            other => other,
        }
    }
    let doc = serde_json::to_value(inputs)
        .map(identity)
        .unwrap_or_default();
    let text = serde_json::to_string(&doc).unwrap_or_default();
    format!("sha256:{}", crate::digest::of(text.as_bytes()).sha256)
}

/// RFC 3339 UTC with milliseconds, as Batch logs show times.
pub fn timestamp(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Results {
    pub fn new(
        tool_id: String,
        run_id: String,
        runner: &str,
        started: chrono::DateTime<chrono::Utc>,
    ) -> Self {
        Self {
            ok: false,
            tool_id,
            run_id,
            results: Outputs::new(),
            partial: false,
            exit_code: 0,
            error: None,
            inputs: Inputs::new(),
            command: None,
            inputs_digest: None,
            started_at: timestamp(started),
            finished_at: None,
            duration_s: None,
            usage: None,
            resources: None,
            workdir: None,
            launcher: Launcher {
                name: env!("CARGO_PKG_NAME"),
                version: env!("CARGO_PKG_VERSION"),
                runner: runner.to_string(),
                host: nix::unistd::gethostname()
                    .ok()
                    .and_then(|h| h.into_string().ok()),
                job: None,
                container: None,
            },
            spec: None,
            logs: None,
            secrets: crate::redact::Secrets::default(),
        }
    }

    /// Marks the run finished, successfully or with `error`; `previous` is
    /// an earlier error that `error` (a store's) superseded.
    pub fn finish(
        &mut self,
        error: Option<&Error>,
        previous: Option<&Error>,
        started: chrono::DateTime<chrono::Utc>,
    ) {
        let now = chrono::Utc::now();
        self.finished_at = Some(timestamp(now));
        let micros = (now - started).num_microseconds().unwrap_or(0);
        self.duration_s = Some((micros as f64 / 1e3).round() / 1e3);
        self.ok = error.is_none();
        self.exit_code = error.map_or(0, Error::exit_code);
        self.error = error.map(|err| ErrorInfo::new(err, previous));
    }

    /// The document as written everywhere, secrets masked.
    pub fn to_json(&self) -> String {
        let serialized = if self.secrets.is_empty() {
            serde_json::to_string_pretty(self)
        } else {
            serde_json::to_value(self).and_then(|mut doc| {
                self.secrets.json(&mut doc);
                serde_json::to_string_pretty(&doc)
            })
        };
        let mut text = serialized.unwrap_or_else(|err| {
            format!("{{\"ok\": false, \"error\": {{\"kind\": \"internal\", \"message\": \"cannot serialize results: {err}\"}}}}")
        });
        text.push('\n');
        text
    }
}

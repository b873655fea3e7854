//! Stage 10: stores a finished run under its result target (DESIGN.md §4):
//! File outputs first, each at `<prefix>/outputs/<name>/<basename>`, then
//! results.json last, so that its presence means the outputs are complete.
//!
//! Owns the upload policy (what goes where, in which order, how many at a
//! time, what happens when the run is stopped mid-upload); the transfers
//! themselves are `objects`'.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use nix::sys::signal::Signal;

use crate::collect::Output;
use crate::error::{Error, Fault};
use crate::exec::Interrupts;
use crate::objects::{Cancel, Replace, Store, Version};
use crate::results::Results;
use crate::uri::ResultTarget;
use crate::workdir::Workdir;

/// How many outputs are uploaded at once.
const CONCURRENT_UPLOADS: usize = 4;

/// How long a stopped run waits for its uploads to abort cleanly.
const ABORT_LIMIT: Duration = Duration::from_secs(30);

/// The results.json found at the target when a run started.
#[derive(Debug)]
pub struct Prior {
    /// Its contents (`null` when they are not JSON).
    pub doc: serde_json::Value,
    pub version: Version,
}

impl Prior {
    pub fn ok(&self) -> bool {
        self.doc["ok"] == true
    }

    /// Whether it is this job's: the same spec and the same inputs.
    pub fn same_job(&self, spec_sha256: &str, inputs_digest: &str) -> bool {
        self.doc["spec"]["sha256"] == spec_sha256 && self.doc["inputs_digest"] == inputs_digest
    }
}

/// Reads the results.json already at `target`, if any.
pub async fn prior(target: &ResultTarget) -> Result<Option<Prior>, Error> {
    let store = Store::open(&target.uri)?;
    let found = store
        .get_versioned(&target.results_key, crate::files::MAX_DOCUMENT)
        .await?;
    Ok(found.map(|(bytes, version)| Prior {
        doc: serde_json::from_slice(&bytes).unwrap_or_default(),
        version,
    }))
}

/// Stores results.json, replacing only what `replace` allows, and an empty
/// object in its place: no run's results are ever empty, so that is a
/// placeholder (Snakemake creates a job's log file empty when the job
/// ends before the launcher has stored it).
async fn put_results(
    store: &Store,
    key: &str,
    body: Vec<u8>,
    replace: Replace,
) -> Result<(), Error> {
    let refused = match store
        .put_bytes_replacing(key, body.clone(), "application/json", replace)
        .await
    {
        Err(
            err @ Error::Store {
                fault: Fault::Conflict,
                ..
            },
        ) => err,
        done => return done,
    };
    match store.get_versioned(key, 1).await {
        Ok(Some((bytes, version))) if bytes.is_empty() => {
            store
                .put_bytes_replacing(key, body, "application/json", Replace::Exactly(version))
                .await
        }
        _ => Err(refused),
    }
}

/// How a store pass ended.
pub struct Stored {
    /// results.json is at the target (even when `error` says something
    /// else could not be stored).
    pub results: bool,
    pub error: Option<Error>,
}

/// What a store pass needs besides the results.
pub struct Storing<'a> {
    pub target: &'a ResultTarget,
    /// Where the outputs are (none when the run failed before it had one).
    pub workdir: Option<&'a Workdir>,
    pub runtime: &'a tokio::runtime::Runtime,
    pub interrupts: &'a mut Interrupts,
    /// How long results.json may take to store after the run was stopped.
    pub grace: Duration,
    pub started: DateTime<Utc>,
    /// What storing results.json may replace.
    pub replace: Replace,
    /// Signs what was stored (results.json.sig).
    pub sign: Option<&'a crate::sign::SigningKey>,
}

impl Storing<'_> {
    /// Stores a run that ended with `error` (or none): outputs only after a
    /// success, then results.json. `results` are finished either way. The
    /// error is what the storing itself ran into, which then ends the run;
    /// the run's own error is kept in results.json as its `previous`.
    pub fn store(&mut self, results: &mut Results, error: Option<&Error>) -> Stored {
        let store = match Store::open(&self.target.uri) {
            Ok(store) => store,
            Err(err) => {
                results.finish(Some(&err), error, self.started);
                return Stored {
                    results: false,
                    error: Some(err),
                };
            }
        };
        // A stop, or a tool ended by a shutdown signal: that signal most
        // likely came to the whole job (scancel, docker stop, an evicted
        // pod) and reaches the launcher next, so what is left to store gets
        // the grace period instead of being cut short by it.
        let mut stopped = matches!(
            error,
            Some(
                Error::Signalled {
                    by_launcher: true,
                    ..
                } | Error::Timeout(_)
            )
        ) || matches!(
            error,
            Some(Error::Signalled { signal, by_launcher: false })
                if [Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP, Signal::SIGQUIT]
                    .iter()
                    .any(|s| *s as i32 == *signal)
        );
        let mut failure = None;
        if (error.is_none() || results.partial)
            && let Some(workdir) = self.workdir
            && let Err(err) = self.upload_outputs(&store, workdir, results)
        {
            stopped |= matches!(err, Error::Signalled { .. } | Error::Timeout(_));
            failure = Some(err);
        }
        // The tool's streams on every path, failures above all: they are
        // what a failed job is debugged from.
        let mut logs = Vec::new();
        if let Some(workdir) = self.workdir
            && !matches!(
                failure,
                Some(Error::Store {
                    fault: Fault::Transient,
                    ..
                })
            )
        {
            match self.upload_logs(&store, workdir, results, stopped) {
                Ok(stored) => logs = stored,
                Err(err) if failure.is_none() => failure = Some(err),
                Err(_) => {}
            }
        }
        results.finish(failure.as_ref().or(error), None, self.started);
        // A store that stayed unreachable for a whole retry budget would only
        // take another one to refuse results.json too.
        if let Some(
            failure @ Error::Store {
                fault: Fault::Transient,
                ..
            },
        ) = failure
        {
            return Stored {
                results: false,
                error: Some(failure),
            };
        }
        let body = results.to_json().into_bytes();
        let put = put_results(&store, &self.target.results_key, body, self.replace.clone());
        let put = if stopped {
            // The run is over; results.json still gets its chance.
            self.runtime
                .block_on(async { tokio::time::timeout(self.grace, put).await })
                .unwrap_or_else(|_| {
                    Err(Error::Internal(format!(
                        "storing results.json took longer than {} s",
                        self.grace.as_secs()
                    )))
                })
        } else {
            self.runtime.block_on(self.interrupts.guard(put))
        };
        let put = match (put, self.sign) {
            (Ok(()), Some(key)) => {
                let uri = store.uri.uri_of(&self.target.results_key);
                let envelope = statement(results, uri, &logs, key);
                let sig_key = format!("{}.sig", self.target.results_key);
                let sig = store.put_bytes_replacing(
                    &sig_key,
                    envelope,
                    "application/json",
                    Replace::Anything,
                );
                self.runtime.block_on(self.interrupts.guard(sig))
            }
            (put, _) => put,
        };
        match (put, failure) {
            (Ok(()), failure) => Stored {
                results: true,
                error: failure,
            },
            (Err(err), failure) => {
                let failure = failure.unwrap_or(err);
                results.finish(Some(&failure), error, self.started);
                Stored {
                    results: false,
                    error: Some(failure),
                }
            }
        }
    }

    /// Uploads the tool's stdout and stderr to `<prefix>/logs/`, secrets
    /// masked, and records where; returns each stored log's URI and
    /// SHA-256. After a stop they get the grace period.
    fn upload_logs(
        &mut self,
        store: &Store,
        workdir: &Workdir,
        results: &mut Results,
        stopped: bool,
    ) -> Result<Vec<(String, String)>, Error> {
        let mut stored = Vec::new();
        let mut locations = crate::results::LogLocations::default();
        for stream in ["stdout", "stderr"] {
            let file = workdir
                .log(stream, &results.secrets)
                .map_err(|err| Error::io(format!("cannot read the tool's {stream}"), err))?;
            let Some(file) = file else {
                continue;
            };
            let key = self.target.log_key(stream);
            let (_canceller, cancel) = Cancel::new();
            let upload = store.upload(file, &key, "text/plain; charset=utf-8", cancel);
            let digests = if stopped {
                self.runtime
                    .block_on(async { tokio::time::timeout(self.grace, upload).await })
                    .map_err(|_| {
                        Error::Internal(format!(
                            "storing the tool's {stream} took longer than {} s",
                            self.grace.as_secs()
                        ))
                    })??
            } else {
                self.runtime.block_on(self.interrupts.guard(upload))?
            };
            if let Some(digests) = digests {
                stored.push((store.uri.uri_of(&key), digests.sha256));
            }
            let uri = Some(store.uri.uri_of(&key));
            match stream {
                "stdout" => locations.stdout = uri,
                _ => locations.stderr = uri,
            }
        }
        if locations.stdout.is_some() || locations.stderr.is_some() {
            results.logs = Some(locations);
        }
        Ok(stored)
    }

    /// Uploads every File output and points its `location` at the stored
    /// copy, with the checksum computed on the way up. A stop (signal, time
    /// limit) aborts the uploads in flight rather than leave parts behind.
    fn upload_outputs(
        &mut self,
        store: &Store,
        workdir: &Workdir,
        results: &mut Results,
    ) -> Result<(), Error> {
        let _progress = crate::progress::phase("storing outputs");
        let target = self.target;
        let mut jobs: Vec<(PathBuf, String)> = Vec::new();
        let mut files = Vec::new();
        for (name, output) in results.results.iter_mut() {
            let trees: Vec<&mut crate::cwl::DirectoryTree> = match output {
                Output::Directory(tree) => vec![tree.as_mut()],
                Output::Directories(trees) => trees.iter_mut().collect(),
                other => {
                    add_files(other.files_mut(), name, target, &mut jobs, &mut files);
                    continue;
                }
            };
            {
                let clash = {
                    let mut seen = HashSet::new();
                    !trees.iter().all(|t| seen.insert(t.basename.clone()))
                };
                for (i, tree) in trees.into_iter().enumerate() {
                    let base = if clash {
                        format!("{i}/{}", tree.basename)
                    } else {
                        tree.basename.clone()
                    };
                    tree.relocate(store.uri.uri_of(&target.output_key(name, &base)));
                    for (relative, file) in tree.files_mut() {
                        let Some(path) = file.path.clone() else {
                            continue;
                        };
                        let leaf = format!("{base}/{}", relative.to_string_lossy());
                        jobs.push((path, target.output_key(name, &leaf)));
                        files.push(file);
                    }
                }
            }
        }
        let (canceller, cancel) = Cancel::new();
        let uploads = futures::stream::iter(jobs.iter().map(|(path, key)| {
            let cancel = cancel.clone();
            async move {
                let file = workdir.open_output(path)?;
                store.upload(file, key, content_type(key), cancel).await
            }
        }))
        .buffered(CONCURRENT_UPLOADS)
        .collect::<Vec<_>>();
        let interrupts = &mut *self.interrupts;
        let done = self.runtime.block_on(async {
            tokio::pin!(uploads);
            tokio::select! {
                done = &mut uploads => Ok(done),
                stop = interrupts.next() => {
                    canceller.cancel();
                    let _ = tokio::time::timeout(ABORT_LIMIT, &mut uploads).await;
                    Err(stop.error())
                }
            }
        })?;
        for ((file, (_, key)), digests) in files.into_iter().zip(&jobs).zip(done) {
            let Some(digests) = digests? else {
                return Err(Error::Internal(format!(
                    "the upload of {key} was cancelled"
                )));
            };
            file.location = store.uri.uri_of(key);
            file.checksum = Some(digests.cwl());
            file.sha256 = Some(digests.sha256);
        }
        Ok(())
    }
}

/// Queues the File objects of one File or File[] output for upload, at
/// `<prefix>/outputs/<name>/<basename>`.
fn add_files<'a>(
    objects: Vec<&'a mut crate::cwl::FileObject>,
    name: &str,
    target: &ResultTarget,
    jobs: &mut Vec<(PathBuf, String)>,
    files: &mut Vec<&'a mut crate::cwl::FileObject>,
) {
    let clash = {
        let mut seen = HashSet::new();
        !objects.iter().all(|f| seen.insert(f.basename.clone()))
    };
    for (i, file) in objects.into_iter().enumerate() {
        let Some(path) = file.path.clone() else {
            continue;
        };
        // Two matches with one basename keep their order in numbered folders.
        let leaf = if clash {
            format!("{i}/{}", file.basename)
        } else {
            file.basename.clone()
        };
        jobs.push((path, target.output_key(name, &leaf)));
        files.push(file);
    }
}

/// The in-toto predicate type of a run's statement.
pub const PREDICATE_TYPE: &str = "https://omni-launch.dev/results/v1";

/// results.json.sig: a DSSE envelope of an in-toto statement whose
/// subjects are every stored File output, the tool's logs and results.json
/// itself (by URI and SHA-256), and whose predicate says what ran (as
/// results.json does, secrets masked).
fn statement(
    results: &Results,
    results_uri: String,
    logs: &[(String, String)],
    key: &crate::sign::SigningKey,
) -> Vec<u8> {
    use serde_json::{Value, json};
    let body = results.to_json();
    let sha256 = crate::digest::of(body.as_bytes()).sha256;
    let doc: Value = serde_json::from_str(&body).unwrap_or_default();
    let mut subject = vec![json!({"name": results_uri, "digest": {"sha256": sha256}})];
    fn files(value: &Value, out: &mut Vec<Value>) {
        match value {
            Value::Object(map) if map.get("class") == Some(&json!("File")) => {
                if let (Some(Value::String(location)), Some(Value::String(sha256))) =
                    (map.get("location"), map.get("sha256"))
                {
                    out.push(json!({"name": location, "digest": {"sha256": sha256}}));
                }
            }
            Value::Object(map) => map.values().for_each(|v| files(v, out)),
            Value::Array(items) => items.iter().for_each(|v| files(v, out)),
            _ => {}
        }
    }
    files(&doc["results"], &mut subject);
    for (uri, sha256) in logs {
        subject.push(json!({"name": uri, "digest": {"sha256": sha256}}));
    }
    let mut predicate = serde_json::Map::new();
    for field in [
        "tool_id",
        "run_id",
        "ok",
        "exit_code",
        "spec",
        "inputs",
        "inputs_digest",
        "command",
        "resources",
        "launcher",
        "started_at",
        "finished_at",
    ] {
        predicate.insert(field.into(), doc[field].clone());
    }
    let statement = json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": subject,
        "predicateType": PREDICATE_TYPE,
        "predicate": predicate,
    });
    let payload = serde_json::to_vec(&statement).unwrap_or_default();
    let envelope = key.envelope(crate::sign::IN_TOTO, &payload);
    let mut text = serde_json::to_vec_pretty(&envelope).unwrap_or_default();
    text.push(b'\n');
    text
}

fn content_type(name: &str) -> &'static str {
    match name
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
    {
        Some(ext) => match ext.as_str() {
            "json" => "application/json",
            "txt" | "log" | "tsv" | "csv" | "fa" | "fasta" | "fastq" | "sam" | "vcf" | "bed"
            | "gff" => "text/plain",
            "gz" => "application/gzip",
            "html" => "text/html",
            _ => "application/octet-stream",
        },
        None => "application/octet-stream",
    }
}

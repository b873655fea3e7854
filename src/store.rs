//! Stage 10: stores a finished run under its result target (DESIGN.md §4):
//! File outputs first, each at `<prefix>/outputs/<name>/<basename>`, then
//! results.json last, so that its presence means the outputs are complete.
//!
//! Owns the upload policy (what goes where, in which order, how many at a
//! time); the transfers themselves are `objects`'.

use std::collections::HashSet;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use futures::StreamExt;

use crate::error::Error;
use crate::exec::Interrupts;
use crate::objects::Store;
use crate::results::Results;
use crate::uri::ResultTarget;

/// How many outputs are uploaded at once.
const CONCURRENT_UPLOADS: usize = 4;

/// Stores a run that ended with `error` (or none). Outputs go up only after
/// a success; results.json always, unless the store cannot be reached.
/// `results` are finished either way; an `Err` is the store's failure,
/// which then ends the run.
pub fn store(
    target: &ResultTarget,
    results: &mut Results,
    error: Option<&Error>,
    started: DateTime<Utc>,
    runtime: &tokio::runtime::Runtime,
    interrupts: &mut Interrupts,
) -> Result<(), Error> {
    let opened = runtime.block_on(interrupts.guard(async {
        let store = Store::open(&target.uri)?;
        if error.is_none() {
            upload_outputs(&store, target, results).await?;
        }
        Ok::<_, Error>(store)
    }));
    let store = match opened {
        Ok(store) => store,
        Err(err) => {
            results.finish(Some(&err), started);
            return Err(err);
        }
    };
    results.finish(error, started);
    let body = results.to_json().into_bytes();
    let put = store.put_bytes(&target.results_key, body, "application/json");
    if let Err(err) = runtime.block_on(interrupts.guard(put)) {
        results.finish(Some(&err), started);
        return Err(err);
    }
    Ok(())
}

/// Uploads every File output and points its `location` at the stored copy,
/// with the checksum computed on the way up.
async fn upload_outputs(
    store: &Store,
    target: &ResultTarget,
    results: &mut Results,
) -> Result<(), Error> {
    let mut jobs: Vec<(PathBuf, String)> = Vec::new();
    let mut objects = Vec::new();
    for (name, output) in results.results.iter_mut() {
        let files = output.files_mut();
        let clash = {
            let mut seen = HashSet::new();
            !files.iter().all(|f| seen.insert(f.basename.clone()))
        };
        for (i, file) in files.into_iter().enumerate() {
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
            objects.push(file);
        }
    }
    let uploads = futures::stream::iter(jobs.iter().map(|(path, key)| {
        let ct = content_type(key);
        async move { store.upload_file(path, key, Some(ct)).await }
    }))
    .buffered(CONCURRENT_UPLOADS)
    .collect::<Vec<_>>()
    .await;
    for ((file, (_, key)), sha1) in objects.into_iter().zip(&jobs).zip(uploads) {
        file.location = store.uri.uri_of(key);
        file.checksum = Some(format!("sha1${}", sha1?));
    }
    Ok(())
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

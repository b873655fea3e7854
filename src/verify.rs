//! `omni-launch verify URI [--key PUB.pem]`: whether a result prefix is
//! what its run stored. Reads results.json and results.json.sig from any
//! store, re-reads every output and log it names and checks sizes and
//! checksums, checks the signature with the key, and checks that the signed
//! statement names exactly these bytes.
//!
//! Exit 0 only when everything matches; 1 at the first mismatch (the
//! report says which); 64, 66, 74, 75 as a run would for a bad command
//! line, a missing results.json and store errors.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::Error;
use crate::objects::Store;
use crate::uri::{ResultTarget, StoreUri};

/// The exit code of a prefix that does not verify.
pub const MISMATCH: i32 = 1;

/// One line of the report.
struct Line {
    ok: bool,
    text: String,
}

pub struct Report {
    lines: Vec<Line>,
}

impl Report {
    fn ok(&mut self, text: impl Into<String>) {
        self.lines.push(Line {
            ok: true,
            text: text.into(),
        });
    }

    fn bad(&mut self, text: impl Into<String>) {
        self.lines.push(Line {
            ok: false,
            text: text.into(),
        });
    }

    pub fn passed(&self) -> bool {
        self.lines.iter().all(|l| l.ok)
    }

    /// The report as printed: a line per check, then a summary.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for line in &self.lines {
            let mark = if line.ok { "ok      " } else { "MISMATCH" };
            out.push_str(&format!("{mark} {}\n", line.text));
        }
        let bad = self.lines.iter().filter(|l| !l.ok).count();
        if bad == 0 {
            out.push_str(&format!("verified: {} checks passed\n", self.lines.len()));
        } else {
            out.push_str(&format!(
                "NOT verified: {bad} of {} checks failed\n",
                self.lines.len()
            ));
        }
        out
    }
}

/// Checks the prefix (or results.json) at `uri`.
pub async fn verify(uri: &str, key: Option<&crate::sign::PublicKey>) -> Result<Report, Error> {
    let target = ResultTarget::parse(uri).map_err(|err| Error::Usage(err.to_string()))?;
    let store = Store::open(&target.uri)?;
    let results_uri = store.uri.uri_of(&target.results_key);
    let Some(body) = store
        .get_bytes(&target.results_key, crate::files::MAX_DOCUMENT)
        .await?
    else {
        return Err(Error::InputMissing(vec![crate::diag::Problem::new(
            "",
            format!("there is no results.json at {results_uri}"),
        )]));
    };
    let mut report = Report { lines: Vec::new() };
    let doc: Value = match serde_json::from_slice(&body) {
        Ok(doc) => doc,
        Err(err) => {
            report.bad(format!("{results_uri}: not JSON ({err})"));
            return Ok(report);
        }
    };
    let results_sha256 = sha256(&body);

    // What results.json says was stored, by URI: size, sha1, sha256.
    let mut expected: BTreeMap<String, Expected> = BTreeMap::new();
    files(&doc["results"], &mut expected);
    for stream in ["stdout", "stderr"] {
        if let Some(uri) = doc["logs"][stream].as_str() {
            expected.entry(uri.to_string()).or_default();
        }
    }

    // The signed statement, when there is one.
    let sig_key = format!("{}.sig", target.results_key);
    let envelope = store
        .get_bytes(&sig_key, crate::files::MAX_DOCUMENT)
        .await?;
    let statement = match (envelope, key) {
        (None, Some(_)) => {
            report.bad(format!(
                "{results_uri}: not signed (no {})",
                store.uri.uri_of(&sig_key)
            ));
            None
        }
        (None, None) => None,
        (Some(bytes), key) => open(&bytes, key, &results_uri, &mut report),
    };
    if let Some(statement) = &statement {
        let subjects = subjects(statement);
        match subjects.get(&results_uri) {
            Some(signed) if *signed == results_sha256 => {
                report.ok(format!("{results_uri}: sha256 as signed"));
            }
            Some(signed) => report.bad(format!(
                "{results_uri}: sha256 {results_sha256}, signed {signed}: results.json was changed"
            )),
            None => report.bad(format!("{results_uri}: not among the signed subjects")),
        }
        for (uri, sha256) in subjects {
            if uri != results_uri {
                expected.entry(uri).or_default().signed = Some(sha256);
            }
        }
    }

    // Every object, read again.
    let mut stores: BTreeMap<String, Store> = BTreeMap::new();
    for (uri, want) in &expected {
        let parsed = StoreUri::parse(uri).map_err(|err| Error::Usage(err.to_string()));
        let Ok(parsed) = parsed else {
            report.bad(format!("{uri}: not a store URI"));
            continue;
        };
        let root = parsed.uri_of("");
        if !stores.contains_key(&root) {
            stores.insert(root.clone(), Store::open(&parsed)?);
        }
        let Some(store) = stores.get(&root) else {
            continue;
        };
        let Some((size, digests)) = store.digest(&parsed.key).await? else {
            report.bad(format!("{uri}: missing"));
            continue;
        };
        let mut problems = Vec::new();
        if want.size.is_some_and(|s| s != size) {
            problems.push(format!(
                "size {size}, recorded {}",
                want.size.unwrap_or_default()
            ));
        }
        if let Some(sum) = &want.checksum
            && !digests.matches(sum)
        {
            problems.push(format!("checksum {}, recorded {sum}", digests.cwl()));
        }
        if let Some(sha) = &want.sha256
            && !sha.eq_ignore_ascii_case(&digests.sha256)
        {
            problems.push(format!("sha256 {}, recorded {sha}", digests.sha256));
        }
        if let Some(sha) = &want.signed
            && !sha.eq_ignore_ascii_case(&digests.sha256)
        {
            problems.push(format!("sha256 {}, signed {sha}", digests.sha256));
        }
        if problems.is_empty() {
            let how = match (&want.signed, &want.sha256) {
                (Some(_), _) => "size and checksums as recorded and signed",
                (None, Some(_)) => "size and checksums as recorded",
                (None, None) => "present",
            };
            report.ok(format!("{uri}: {how}"));
        } else {
            report.bad(format!("{uri}: {}", problems.join("; ")));
        }
    }
    if statement.is_none() && key.is_none() {
        report.ok(format!(
            "{results_uri}: no signature checked (give --key to require one)"
        ));
    }
    Ok(report)
}

#[derive(Default)]
struct Expected {
    size: Option<u64>,
    checksum: Option<String>,
    sha256: Option<String>,
    signed: Option<String>,
}

/// The File objects in `value`, by location.
fn files(value: &Value, out: &mut BTreeMap<String, Expected>) {
    let text = |map: &serde_json::Map<String, Value>, key: &str| {
        map.get(key).and_then(Value::as_str).map(str::to_string)
    };
    match value {
        Value::Object(map) if map.get("class").and_then(Value::as_str) == Some("File") => {
            if let Some(location) = text(map, "location") {
                out.insert(
                    location,
                    Expected {
                        size: map.get("size").and_then(Value::as_u64),
                        checksum: text(map, "checksum"),
                        sha256: text(map, "sha256"),
                        signed: None,
                    },
                );
            }
        }
        Value::Object(map) => map.values().for_each(|v| files(v, out)),
        Value::Array(items) => items.iter().for_each(|v| files(v, out)),
        _ => {}
    }
}

/// The statement of an envelope: verified with `key`, or read unverified
/// (and said so) without one.
fn open(
    bytes: &[u8],
    key: Option<&crate::sign::PublicKey>,
    results_uri: &str,
    report: &mut Report,
) -> Option<Value> {
    let envelope: crate::sign::Envelope = match serde_json::from_slice(bytes) {
        Ok(e) => e,
        Err(err) => {
            report.bad(format!("{results_uri}.sig: not a DSSE envelope ({err})"));
            return None;
        }
    };
    if envelope.payload_type != crate::sign::IN_TOTO {
        report.bad(format!(
            "{results_uri}.sig: payload type {}, not {}",
            envelope.payload_type,
            crate::sign::IN_TOTO
        ));
        return None;
    }
    let payload = match key {
        Some(key) => match envelope.open(key) {
            Ok(payload) => {
                report.ok(format!(
                    "{results_uri}.sig: signature verified with key {}",
                    key.key_id()
                ));
                payload
            }
            Err(why) => {
                report.bad(format!("{results_uri}.sig: {why}"));
                return None;
            }
        },
        None => match envelope.payload() {
            Ok(payload) => {
                report.ok(format!(
                    "{results_uri}.sig: signature present, not checked (give --key to check it)"
                ));
                payload
            }
            Err(why) => {
                report.bad(format!("{results_uri}.sig: {why}"));
                return None;
            }
        },
    };
    match serde_json::from_slice(&payload) {
        Ok(statement) => Some(statement),
        Err(err) => {
            report.bad(format!(
                "{results_uri}.sig: the statement is not JSON ({err})"
            ));
            None
        }
    }
}

/// The statement's subjects: URI → SHA-256.
fn subjects(statement: &Value) -> BTreeMap<String, String> {
    statement["subject"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| {
            Some((
                s["name"].as_str()?.to_string(),
                s["digest"]["sha256"].as_str()?.to_string(),
            ))
        })
        .collect()
}

fn sha256(bytes: &[u8]) -> String {
    crate::digest::of(bytes).sha256
}

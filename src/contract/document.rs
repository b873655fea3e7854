//! The JSON documents of a job (its inputs and resources): given inline,
//! as `@file`, on stdin, as one line of a JSON Lines file, or as the URI
//! of a stored document read when the run starts.

use std::path::Path;

use serde_json::Value;

use crate::diag::Problem;
use crate::error::Error;
use crate::uri::StoreUri;

/// A JSON document and where it came from, for messages.
#[derive(Clone, Debug)]
pub struct Document {
    /// How messages name it: a file path, `--inputs`, `INPUTS_JSON` …
    pub source: String,
    /// As given: checked for UTF-8 when parsed, so that a bad document is
    /// invalid input (65) with a results.json, not a usage error.
    pub bytes: Vec<u8>,
    /// Whether `source` is a file a message can point at.
    pub from_file: bool,
    /// The document is at this URI, to be read when the run starts (a
    /// JSON document cannot start with a scheme).
    pub remote: Option<StoreUri>,
}

impl Document {
    /// The file the document was read from, if it was.
    pub fn file(&self) -> Option<&str> {
        self.from_file.then_some(self.source.as_str())
    }

    /// Parses the document; malformed JSON is invalid input (65).
    pub fn parse(&self) -> Result<Value, Error> {
        self.parse_value()
            .map_err(|message| Error::InvalidInputs(vec![Problem::new("", message)]))
    }

    /// Parses the document strictly (`json`); the error names the source.
    pub fn parse_value(&self) -> Result<Value, String> {
        crate::json::parse(&self.bytes).map_err(|why| format!("{} {why}", self.source))
    }
}

/// A document given as text: JSON, or the URI of one.
pub(super) fn given_document(text: String, source: &str) -> Result<Document, Error> {
    let remote = ["s3://", "azureblob://", "file://"]
        .iter()
        .any(|scheme| text.starts_with(scheme));
    if remote {
        let uri = StoreUri::parse(&text).map_err(|err| Error::Usage(format!("{source}: {err}")))?;
        return Ok(Document {
            source: format!("{text} ({source})"),
            bytes: Vec::new(),
            from_file: false,
            remote: Some(uri),
        });
    }
    Ok(Document {
        source: source.to_string(),
        bytes: text.into_bytes(),
        from_file: false,
        remote: None,
    })
}

impl Document {
    /// The document itself: one given by URI is read from its store, with
    /// the store's credentials and retries.
    pub async fn fetch(&self) -> Result<std::borrow::Cow<'_, Document>, Error> {
        let Some(uri) = &self.remote else {
            return Ok(std::borrow::Cow::Borrowed(self));
        };
        let store = crate::objects::Store::open(uri)?;
        match store
            .get_bytes(&uri.key, crate::files::MAX_DOCUMENT)
            .await?
        {
            Some(bytes) => Ok(std::borrow::Cow::Owned(Document {
                source: self.source.clone(),
                bytes,
                from_file: false,
                remote: None,
            })),
            None => Err(Error::InputMissing(vec![Problem::new(
                "",
                format!("the document {} does not exist", self.source),
            )])),
        }
    }
}

/// Reads `JSON`, `@file`, `-` (stdin), or a store URI (read when the run
/// starts).
pub fn read_document(arg: &str, flag: &str) -> Result<Document, Error> {
    let cap = crate::files::MAX_DOCUMENT;
    if arg == "-" {
        let bytes = crate::files::read_capped(std::io::stdin().lock(), cap)
            .map_err(|err| Error::Usage(format!("cannot read {flag} from stdin: {err}")))?;
        return Ok(Document {
            source: format!("{flag} (stdin)"),
            bytes,
            from_file: false,
            remote: None,
        });
    }
    if let Some(path) = arg.strip_prefix('@') {
        let bytes = crate::files::read_regular(Path::new(path), cap)
            .map_err(|err| Error::Usage(format!("cannot read {flag} file \"{path}\": {err}")))?;
        return Ok(Document {
            source: path.to_string(),
            bytes,
            from_file: true,
            remote: None,
        });
    }
    given_document(arg.to_string(), flag)
}

/// Line `number` (from 1) of a JSON Lines file, as one document: one job
/// of many, as a Slurm array task or a `parallel` slot picks it. Only the
/// lines before it are read, each at most a document's size.
pub fn read_line(path: &Path, number: u64) -> Result<Document, Error> {
    use std::io::BufRead;
    let cannot = |err: std::io::Error| {
        Error::Usage(format!(
            "cannot read --inputs-line file \"{}\": {err}",
            path.display()
        ))
    };
    if number == 0 {
        return Err(Error::Usage(
            "--inputs-line counts lines from 1, as sed and editors do".into(),
        ));
    }
    let file = crate::files::open_regular(path).map_err(cannot)?;
    let mut reader = std::io::BufReader::new(file);
    let mut line = Vec::new();
    for seen in 1..=number {
        line.clear();
        let read = std::io::Read::take(&mut reader, crate::files::MAX_DOCUMENT + 1)
            .read_until(b'\n', &mut line)
            .map_err(cannot)?;
        if read == 0 {
            return Err(Error::Usage(format!(
                "--inputs-line {number}: \"{}\" has only {} line{}",
                path.display(),
                seen - 1,
                if seen == 2 { "" } else { "s" }
            )));
        }
        if line.len() as u64 > crate::files::MAX_DOCUMENT {
            return Err(Error::Usage(format!(
                "--inputs-line: line {seen} of \"{}\" is longer than {} MiB",
                path.display(),
                crate::files::MAX_DOCUMENT >> 20
            )));
        }
    }
    while matches!(line.last(), Some(b'\n' | b'\r')) {
        line.pop();
    }
    Ok(Document {
        source: format!("{} line {number}", path.display()),
        bytes: line,
        from_file: false,
        remote: None,
    })
}

//! Every URI grammar of the launcher (DESIGN.md §4): store URIs (`s3://`,
//! `azureblob://`, `file://`), result targets and their key layout, input
//! locations, and `file://` URIs of local paths.
//!
//! Pure text: nothing here opens a store or touches the filesystem.
//! Object keys are raw: `s3://b/50%.txt` names the key `50%.txt`, never a
//! percent-decoded one; only `file://` URIs are URLs with escapes.

use std::fmt;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scheme {
    S3,
    Azure,
    File,
    /// `https://` (and `http://` on loopback): read-only, for File inputs
    /// such as public references.
    Http,
}

/// A URI that cannot be used, and why.
#[derive(Debug, PartialEq, Eq)]
pub struct UriError {
    pub text: String,
    pub reason: String,
}

impl fmt::Display for UriError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "invalid store URI \"{}\": {}", self.text, self.reason)
    }
}

impl std::error::Error for UriError {}

/// A parsed store URI: `s3://bucket/key`, `azureblob://account/container/key`
/// or `file:///abs/path`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreUri {
    pub scheme: Scheme,
    /// Bucket (S3), `account/container` (Azure) or empty (file).
    pub root: String,
    /// The key inside the bucket or container (file: the absolute path
    /// without its leading `/`); no leading or trailing `/`.
    pub key: String,
}

impl StoreUri {
    pub fn parse(text: &str) -> Result<Self, UriError> {
        let bad = |why: &str| UriError {
            text: text.to_string(),
            reason: why.to_string(),
        };
        let Some((scheme, rest)) = text.split_once("://") else {
            return Err(bad("expected s3://, azureblob:// or file://"));
        };
        match scheme {
            "s3" => {
                let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.is_empty() {
                    return Err(bad("the bucket is missing (s3://bucket/prefix/)"));
                }
                Ok(Self {
                    scheme: Scheme::S3,
                    root: bucket.to_string(),
                    key: clean_key(key),
                })
            }
            "azureblob" => {
                let mut parts = rest.splitn(3, '/');
                let account = parts.next().unwrap_or_default();
                let container = parts.next().unwrap_or_default();
                if account.is_empty() || container.is_empty() {
                    return Err(bad("expected azureblob://account/container/prefix/"));
                }
                Ok(Self {
                    scheme: Scheme::Azure,
                    root: format!("{account}/{container}"),
                    key: clean_key(parts.next().unwrap_or_default()),
                })
            }
            "file" => {
                let path = file_path(text).map_err(|why| bad(&why))?;
                Ok(Self {
                    scheme: Scheme::File,
                    root: String::new(),
                    key: clean_key(&path.to_string_lossy()),
                })
            }
            "https" | "http" => {
                let url = url::Url::parse(text).map_err(|err| bad(&err.to_string()))?;
                let host = url.host_str().unwrap_or_default();
                if host.is_empty() {
                    return Err(bad("the host is missing"));
                }
                if scheme == "http"
                    && !loopback(host)
                    && std::env::var_os("OMNI_ALLOW_HTTP").is_none()
                {
                    return Err(bad(
                        "plain http:// is allowed only on loopback; use https://, or set OMNI_ALLOW_HTTP=1",
                    ));
                }
                let origin = url.origin().ascii_serialization();
                Ok(Self {
                    scheme: Scheme::Http,
                    root: origin,
                    key: clean_key(url.path()),
                })
            }
            other => Err(bad(&format!(
                "unsupported scheme `{other}://`; use s3://, azureblob:// or file://"
            ))),
        }
    }

    /// The URI of `key` in the same bucket or container.
    pub fn uri_of(&self, key: &str) -> String {
        match self.scheme {
            Scheme::S3 => format!("s3://{}/{key}", self.root),
            Scheme::Azure => format!("azureblob://{}/{key}", self.root),
            Scheme::File => file_uri(Path::new(&format!("/{key}"))),
            Scheme::Http => format!("{}/{key}", self.root),
        }
    }

    /// The last segment of the key: the object's basename.
    pub fn basename(&self) -> &str {
        self.key.rsplit('/').next().unwrap_or_default()
    }
}

/// Whether a host is this machine (plain http is fine there).
fn loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn clean_key(key: &str) -> String {
    key.trim_matches('/').to_string()
}

/// The local path of a `file://` URI (percent-escapes decoded).
pub fn file_path(text: &str) -> Result<PathBuf, String> {
    let url = url::Url::parse(text).map_err(|err| err.to_string())?;
    url.to_file_path()
        .map_err(|()| "expected file:///absolute/path".to_string())
}

/// The `file://` URI of a local path (percent-encoded).
pub fn file_uri(path: &Path) -> String {
    url::Url::from_file_path(path)
        .map(String::from)
        .unwrap_or_else(|()| path.display().to_string())
}

/// The URI of a sibling of the object at `uri` (same folder, other name).
pub fn sibling(uri: &str, basename: &str) -> Option<String> {
    if uri.starts_with("file://") {
        let path = file_path(uri).ok()?;
        return Some(file_uri(&path.parent()?.join(basename)));
    }
    let (dir, _) = uri.rsplit_once('/')?;
    Some(format!("{dir}/{basename}"))
}

/// Where a File or Directory input is.
#[derive(Debug, PartialEq, Eq)]
pub enum Location {
    Local(PathBuf),
    /// `s3://…` or `azureblob://…`: staged before the command runs.
    Remote(StoreUri),
}

impl Location {
    /// Parses a path or URI given for a File or Directory input; relative
    /// paths are relative to `base_dir`.
    pub fn parse(text: &str, base_dir: &Path) -> Result<Self, String> {
        if text.is_empty() {
            return Err("the path is empty".into());
        }
        if text.contains('\0') {
            return Err("the path contains a NUL character".into());
        }
        if let Some((scheme, _)) = text.split_once("://")
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '-' || c == '.')
        {
            return match scheme {
                "file" => file_path(text)
                    .map(Location::Local)
                    .map_err(|why| format!("invalid file URI \"{text}\": {why}")),
                "s3" | "azureblob" | "https" | "http" => StoreUri::parse(text)
                    .map(Location::Remote)
                    .map_err(|err| err.to_string()),
                other => Err(format!(
                    "unsupported URI scheme `{other}://`; use a local path, file://, s3://, azureblob:// or https://"
                )),
            };
        }
        let path = Path::new(text);
        Ok(Location::Local(if path.is_absolute() {
            path.to_path_buf()
        } else {
            base_dir.join(path)
        }))
    }
}

/// Where a run's results go, by the rule of DESIGN.md §4: a URI ending in
/// `.json` names results.json itself; any other URI is a prefix.
#[derive(Clone, Debug)]
pub struct ResultTarget {
    pub uri: StoreUri,
    /// Key of results.json.
    pub results_key: String,
    /// Key of the prefix that holds `outputs/`.
    pub prefix_key: String,
}

impl ResultTarget {
    pub fn parse(text: &str) -> Result<Self, UriError> {
        let uri = StoreUri::parse(text)?;
        if uri.scheme == Scheme::Http {
            return Err(UriError {
                text: text.to_string(),
                reason:
                    "https:// is for reading inputs; results go to s3://, azureblob:// or file://"
                        .into(),
            });
        }
        let (prefix_key, results_key) = if uri.key.ends_with(".json") {
            let prefix = uri.key.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
            (prefix.to_string(), uri.key.clone())
        } else {
            let results = if uri.key.is_empty() {
                "results.json".to_string()
            } else {
                format!("{}/results.json", uri.key)
            };
            (uri.key.clone(), results)
        };
        Ok(Self {
            uri,
            results_key,
            prefix_key,
        })
    }

    /// Key of a file below the prefix.
    fn under_prefix(&self, relative: &str) -> String {
        if self.prefix_key.is_empty() {
            relative.to_string()
        } else {
            format!("{}/{relative}", self.prefix_key)
        }
    }

    /// Key of one of the tool's streams: `<prefix>/logs/<stream>`.
    pub fn log_key(&self, stream: &str) -> String {
        self.under_prefix(&format!("logs/{stream}"))
    }

    /// Key of an output file: `<prefix>/outputs/<name>/<leaf>`.
    pub fn output_key(&self, name: &str, leaf: &str) -> String {
        self.under_prefix(&format!("outputs/{name}/{leaf}"))
    }

    /// The URI of results.json.
    pub fn results_uri(&self) -> String {
        self.uri.uri_of(&self.results_key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_rules() {
        let t = ResultTarget::parse("s3://b/runs/r1/").unwrap();
        assert_eq!(t.results_key, "runs/r1/results.json");
        assert_eq!(t.output_key("hits", "h.tsv"), "runs/r1/outputs/hits/h.tsv");
        let t = ResultTarget::parse("azureblob://acct/cont/x/out.json").unwrap();
        assert_eq!(t.uri.root, "acct/cont");
        assert_eq!(t.results_key, "x/out.json");
        assert_eq!(t.output_key("a", "b"), "x/outputs/a/b");
        let t = ResultTarget::parse("file:///tmp/r").unwrap();
        assert_eq!(t.results_uri(), "file:///tmp/r/results.json");
        let t = ResultTarget::parse("s3://b").unwrap();
        assert_eq!(t.results_key, "results.json");
        assert!(StoreUri::parse("gs://b/x").is_err());
        assert!(StoreUri::parse("s3:///x").is_err());
        assert!(StoreUri::parse("azureblob://acct").is_err());
    }

    #[test]
    fn siblings() {
        assert_eq!(
            sibling("s3://b/x/a.bam", "a.bam.bai").as_deref(),
            Some("s3://b/x/a.bam.bai")
        );
        assert_eq!(
            sibling("file:///d/a%20b.bam", "a b.bai").as_deref(),
            Some("file:///d/a%20b.bai")
        );
    }

    #[test]
    fn locations() {
        let base = Path::new("/base");
        assert_eq!(
            Location::parse("x.fa", base),
            Ok(Location::Local(PathBuf::from("/base/x.fa")))
        );
        assert_eq!(
            Location::parse("file:///d/a%20b", base),
            Ok(Location::Local(PathBuf::from("/d/a b")))
        );
        assert!(matches!(
            Location::parse("s3://b/k", base),
            Ok(Location::Remote(_))
        ));
        assert!(Location::parse("gs://b/k", base).is_err());
    }
}

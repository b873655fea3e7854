//! The object-store client (DESIGN.md §4): `s3://`, `azureblob://` and
//! `file://` URIs mapped to `object_store` backends, with streaming uploads
//! and downloads and retries of transient errors.
//!
//! Ground floor: owns credentials, endpoints, retry policy and the meaning
//! of a store's failures. It must not know about specs or results.json:
//! `stage` and `store` decide what goes where.

use std::path::Path;
use std::sync::{Arc, Once};
use std::time::Duration;

use futures::StreamExt;
use object_store::buffered::BufWriter;
use object_store::path::Path as Key;
use object_store::{
    Attribute, Attributes, BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, RetryConfig,
};
use sha1::Digest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::{Error, Fault};
use crate::uri::{Scheme, StoreUri};

/// An opened store: one backend per bucket, container or filesystem.
#[derive(Clone, Debug)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    pub uri: StoreUri,
}

static CRYPTO: Once = Once::new();

/// rustls needs one process-wide crypto provider; ring is the one built in.
fn install_crypto() {
    CRYPTO.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

fn env_secs(name: &str, default: u64) -> Duration {
    Duration::from_secs(
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default),
    )
}

/// Transient errors (5xx, throttling, resets, timeouts) are retried with
/// exponential backoff and jitter, for at most `OMNI_STORE_RETRY_TIMEOUT_S`
/// (default 120 s) per request.
fn retry_config() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(15),
            base: 2.0,
        },
        max_retries: 10,
        retry_timeout: env_secs("OMNI_STORE_RETRY_TIMEOUT_S", 120),
    }
}

fn client_options(allow_http: bool) -> ClientOptions {
    ClientOptions::new()
        .with_allow_http(allow_http)
        .with_connect_timeout(env_secs("OMNI_STORE_CONNECT_TIMEOUT_S", 10))
        .with_timeout(env_secs("OMNI_STORE_TIMEOUT_S", 300))
}

/// Azure connection string fields (`AccountName=…;AccountKey=…;BlobEndpoint=…`).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ConnectionString {
    pub account_name: Option<String>,
    pub account_key: Option<String>,
    pub blob_endpoint: Option<String>,
    pub sas: Option<String>,
    pub protocol: Option<String>,
    pub development: bool,
}

impl ConnectionString {
    pub fn parse(text: &str) -> Self {
        let mut cs = ConnectionString::default();
        for part in text.split(';') {
            let Some((k, v)) = part.split_once('=') else {
                continue;
            };
            let v = v.trim().to_string();
            match k.trim() {
                "AccountName" => cs.account_name = Some(v),
                "AccountKey" => cs.account_key = Some(v),
                "BlobEndpoint" => cs.blob_endpoint = Some(v.trim_end_matches('/').to_string()),
                "SharedAccessSignature" => cs.sas = Some(v),
                "DefaultEndpointsProtocol" => cs.protocol = Some(v),
                "UseDevelopmentStorage" => cs.development = v.eq_ignore_ascii_case("true"),
                _ => {}
            }
        }
        cs
    }
}

impl Store {
    pub fn open(uri: &StoreUri) -> Result<Self, Error> {
        install_crypto();
        let inner: Arc<dyn ObjectStore> = match uri.scheme {
            Scheme::File => Arc::new(object_store::local::LocalFileSystem::new()),
            Scheme::S3 => {
                let mut builder = object_store::aws::AmazonS3Builder::from_env()
                    .with_bucket_name(&uri.root)
                    .with_retry(retry_config())
                    .with_checksum_algorithm(object_store::aws::Checksum::SHA256);
                let endpoint = std::env::var("AWS_ENDPOINT_URL_S3")
                    .or_else(|_| std::env::var("AWS_ENDPOINT_URL"))
                    .ok();
                let allow_http = endpoint
                    .as_deref()
                    .is_some_and(|e| e.starts_with("http://"));
                if let Some(endpoint) = endpoint {
                    // S3-compatible servers are addressed path-style.
                    builder = builder
                        .with_endpoint(endpoint)
                        .with_virtual_hosted_style_request(false);
                }
                if std::env::var_os("AWS_REGION").is_none()
                    && std::env::var_os("AWS_DEFAULT_REGION").is_none()
                {
                    builder = builder.with_region("us-east-1");
                }
                builder = builder.with_client_options(client_options(allow_http));
                Arc::new(builder.build().map_err(|err| store_error(uri, err))?)
            }
            Scheme::Azure => Arc::new(azure(uri)?),
        };
        Ok(Self {
            inner,
            uri: uri.clone(),
        })
    }

    /// Uploads a local file to `key`, streaming it in parts; returns the
    /// SHA-1 of the bytes sent (hex), computed on the way.
    pub async fn upload_file(
        &self,
        local: &Path,
        key: &str,
        content_type: Option<&str>,
    ) -> Result<String, Error> {
        let mut file = tokio::fs::File::open(local)
            .await
            .map_err(|err| Error::io(format!("cannot open {}", local.display()), err))?;
        let attributes = self.attributes(content_type);
        let mut writer = BufWriter::with_capacity(self.inner.clone(), Key::from(key), part_size())
            .with_max_concurrency(4)
            .with_attributes(attributes);
        let mut buf = vec![0u8; 1 << 20];
        let mut sha1 = sha1::Sha1::new();
        loop {
            let n = file
                .read(&mut buf)
                .await
                .map_err(|err| Error::io(format!("cannot read {}", local.display()), err))?;
            if n == 0 {
                break;
            }
            sha1.update(&buf[..n]);
            if let Err(err) = writer.write_all(&buf[..n]).await {
                let _ = writer.abort().await;
                return Err(self.io_error("cannot store", key, err));
            }
        }
        // A failed shutdown has already cleaned up (aborting now would panic).
        writer
            .shutdown()
            .await
            .map_err(|err| self.io_error("cannot store", key, err))?;
        Ok(hex::encode(sha1.finalize()))
    }

    /// Writes a small object in one request.
    pub async fn put_bytes(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<(), Error> {
        let opts = object_store::PutOptions {
            attributes: self.attributes(Some(content_type)),
            ..Default::default()
        };
        self.inner
            .put_opts(&Key::from(key), bytes.into(), opts)
            .await
            .map(|_| ())
            .map_err(|err| self.error("cannot store", key, err))
    }

    /// Downloads `key` into `local`, streaming. `Ok(false)`: no such object.
    pub async fn download(&self, key: &str, local: &Path) -> Result<bool, Error> {
        let result = match self.inner.get(&Key::from(key)).await {
            Ok(r) => r,
            Err(object_store::Error::NotFound { .. }) => return Ok(false),
            Err(err) => return Err(self.error("cannot read", key, err)),
        };
        if let Some(parent) = local.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|err| Error::io(format!("cannot create {}", parent.display()), err))?;
        }
        let mut file = tokio::fs::File::create(local)
            .await
            .map_err(|err| Error::io(format!("cannot create {}", local.display()), err))?;
        let mut stream = result.into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|err| self.error("cannot read", key, err))?;
            file.write_all(&chunk)
                .await
                .map_err(|err| Error::io(format!("cannot write {}", local.display()), err))?;
        }
        file.flush()
            .await
            .map_err(|err| Error::io(format!("cannot write {}", local.display()), err))?;
        Ok(true)
    }

    /// Every key under a prefix (a "directory"), sorted.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, Error> {
        let prefix_key = Key::from(prefix);
        let mut stream = self.inner.list(Some(&prefix_key));
        let mut keys = Vec::new();
        while let Some(meta) = stream.next().await {
            let meta = meta.map_err(|err| self.error("cannot list", prefix, err))?;
            keys.push(meta.location.to_string());
        }
        keys.sort();
        Ok(keys)
    }

    /// Content types for cloud stores; a local filesystem keeps none.
    fn attributes(&self, content_type: Option<&str>) -> Attributes {
        let mut attributes = Attributes::new();
        if let (Some(ct), false) = (content_type, self.uri.scheme == Scheme::File) {
            attributes.insert(Attribute::ContentType, ct.to_string().into());
        }
        attributes
    }

    fn error(&self, what: &'static str, key: &str, err: object_store::Error) -> Error {
        Error::Store {
            what,
            uri: self.uri.uri_of(key),
            fault: Fault::Transient,
            source: err,
        }
    }

    /// A failed streaming write: object_store's error travels inside the
    /// `io::Error` the writer returns.
    fn io_error(&self, what: &'static str, key: &str, err: std::io::Error) -> Error {
        let source = match err.downcast::<object_store::Error>() {
            Ok(inner) => inner,
            Err(err) => object_store::Error::Generic {
                store: "writer",
                source: Box::new(err),
            },
        };
        self.error(what, key, source)
    }
}

fn store_error(uri: &StoreUri, err: object_store::Error) -> Error {
    Error::Store {
        what: "cannot open",
        uri: uri.uri_of(""),
        fault: Fault::Transient,
        source: err,
    }
}

/// Multipart part size: `S3_UPLOAD_PART_MIN_SIZE` bytes, default 8 MiB.
fn part_size() -> usize {
    std::env::var("S3_UPLOAD_PART_MIN_SIZE")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or(8 << 20)
}

fn azure(uri: &StoreUri) -> Result<object_store::azure::MicrosoftAzure, Error> {
    let (account, container) = uri.root.split_once('/').unwrap_or((&uri.root, ""));
    let mut builder = object_store::azure::MicrosoftAzureBuilder::from_env()
        .with_account(account)
        .with_container_name(container)
        .with_retry(retry_config());
    let mut allow_http = false;
    if let Ok(text) = std::env::var("AZURE_STORAGE_CONNECTION_STRING") {
        let cs = ConnectionString::parse(&text);
        if cs.development {
            builder = builder.with_use_emulator(true);
        }
        if let Some(name) = &cs.account_name
            && name != account
        {
            return Err(Error::Usage(format!(
                "the URI names account `{account}` but AZURE_STORAGE_CONNECTION_STRING is for `{name}`"
            )));
        }
        if let Some(key) = cs.account_key {
            builder = builder.with_access_key(key);
        }
        if let Some(sas) = cs.sas {
            let pairs = url::form_urlencoded::parse(sas.trim_start_matches('?').as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect::<Vec<_>>();
            builder = builder.with_sas_authorization(pairs);
        }
        let endpoint = cs.blob_endpoint.or_else(|| {
            cs.protocol
                .as_ref()
                .map(|p| format!("{p}://{account}.blob.core.windows.net"))
        });
        if let Some(endpoint) = endpoint {
            allow_http = endpoint.starts_with("http://");
            builder = builder.with_endpoint(endpoint);
        }
    } else if let Ok(endpoint) = std::env::var("AZURE_STORAGE_BLOB_ENDPOINT") {
        allow_http = endpoint.starts_with("http://");
        builder = builder.with_endpoint(endpoint);
    }
    builder
        .with_client_options(client_options(allow_http))
        .build()
        .map_err(|err| store_error(uri, err))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_strings() {
        let cs = ConnectionString::parse(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=k==;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;",
        );
        assert_eq!(cs.account_name.as_deref(), Some("devstoreaccount1"));
        assert_eq!(cs.account_key.as_deref(), Some("k=="));
        assert_eq!(
            cs.blob_endpoint.as_deref(),
            Some("http://127.0.0.1:10000/devstoreaccount1")
        );
    }
}

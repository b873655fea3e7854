//! How a store is reached: endpoints, credentials, retry policy, timeouts
//! and part sizes, read from the environment.

use std::sync::{Arc, Once};
use std::time::Duration;

use object_store::{BackoffConfig, ClientOptions, ObjectStore, RetryConfig};

use super::fault;
use crate::error::Error;
use crate::uri::StoreUri;

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

/// The time a request may keep retrying: `OMNI_STORE_RETRY_TIMEOUT_S`,
/// default 120 s.
pub fn retry_budget() -> Duration {
    env_secs("OMNI_STORE_RETRY_TIMEOUT_S", 120)
}

/// Transient errors (5xx, throttling, resets, timeouts, refused
/// connections) are retried with exponential backoff and jitter until the
/// time budget is spent: the budget is the limit, not a count of retries.
fn retry_config() -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(15),
            base: 2.0,
        },
        max_retries: usize::MAX,
        retry_timeout: retry_budget(),
    }
}

fn client_options(allow_http: bool) -> ClientOptions {
    ClientOptions::new()
        .with_allow_http(allow_http)
        .with_connect_timeout(env_secs("OMNI_STORE_CONNECT_TIMEOUT_S", 10))
        .with_timeout(env_secs("OMNI_STORE_TIMEOUT_S", 300))
}

/// S3's limits on one part of a multipart upload (Azure's blocks allow
/// more; the same bounds keep one setting meaningful for both).
pub const MIN_PART: usize = 5 << 20;
pub const MAX_PART: usize = 5 << 30;

/// Multipart part size: `S3_UPLOAD_PART_MIN_SIZE` bytes, default 8 MiB,
/// within S3's 5 MiB–5 GiB.
pub fn part_size() -> Result<usize, Error> {
    let Ok(text) = std::env::var("S3_UPLOAD_PART_MIN_SIZE") else {
        return Ok(8 << 20);
    };
    match text.trim().parse::<usize>() {
        Ok(n) if (MIN_PART..=MAX_PART).contains(&n) => Ok(n),
        _ => Err(Error::Usage(format!(
            "S3_UPLOAD_PART_MIN_SIZE is \"{}\"; it must be a number of bytes from {MIN_PART} (5 MiB) to {MAX_PART} (5 GiB)",
            text.escape_debug()
        ))),
    }
}

/// The most parts one upload may have: S3's 10,000, or
/// `OMNI_MAX_UPLOAD_PARTS` for a store that allows fewer.
pub fn max_parts() -> u64 {
    std::env::var("OMNI_MAX_UPLOAD_PARTS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|&n: &u64| n > 0)
        .unwrap_or(10_000)
}

/// The part size for uploading `size` bytes: `min`, or more (in whole MiB)
/// when `min` would need more than `max_parts` parts; refused when that
/// takes parts over S3's 5 GiB. (The store itself refuses an object over
/// its own limit: 5 TiB on S3.)
pub fn choose_part(size: u64, min: usize, max_parts: u64) -> Result<usize, String> {
    const MIB: u64 = 1 << 20;
    let needed = size.div_ceil(max_parts.max(1)).div_ceil(MIB) * MIB;
    let part = needed.max(min as u64);
    if part > MAX_PART as u64 {
        return Err(format!(
            "{size} bytes would need parts over S3's 5 GiB limit ({max_parts} parts at most)"
        ));
    }
    usize::try_from(part).map_err(|_| "the part size does not fit in memory".to_string())
}

/// A read-only backend for an `https://` (or loopback `http://`) server.
pub fn http(uri: &StoreUri) -> Result<Arc<dyn ObjectStore>, Error> {
    install_crypto();
    let store = object_store::http::HttpBuilder::new()
        .with_url(&uri.root)
        .with_retry(retry_config())
        .with_client_options(client_options(uri.root.starts_with("http://")))
        .build()
        .map_err(|err| fault::open_error(uri, err))?;
    Ok(Arc::new(store))
}

/// An S3 backend for the bucket of `uri`.
pub fn s3(uri: &StoreUri) -> Result<Arc<dyn ObjectStore>, Error> {
    install_crypto();
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
    if std::env::var_os("AWS_REGION").is_none() && std::env::var_os("AWS_DEFAULT_REGION").is_none()
    {
        builder = builder.with_region("us-east-1");
    }
    let store = builder
        .with_client_options(client_options(allow_http))
        .build()
        .map_err(|err| fault::open_error(uri, err))?;
    Ok(Arc::new(store))
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

/// An Azure Blob backend for the container of `uri`.
pub fn azure(uri: &StoreUri) -> Result<Arc<dyn ObjectStore>, Error> {
    install_crypto();
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
    let store = builder
        .with_client_options(client_options(allow_http))
        .build()
        .map_err(|err| fault::open_error(uri, err))?;
    Ok(Arc::new(store))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_grow_so_that_no_upload_needs_more_than_the_limit() {
        const MIB: u64 = 1 << 20;
        const GIB: u64 = 1 << 30;
        let min = 8 << 20;
        // Up to 10,000 × 8 MiB (about 78 GiB) the configured size holds.
        assert_eq!(choose_part(GIB, min, 10_000), Ok(min));
        assert_eq!(choose_part(10_000 * 8 * MIB, min, 10_000), Ok(min));
        // A 500 GiB BAM: 52 MiB parts, 9,847 of them.
        let part = choose_part(500 * GIB, min, 10_000).unwrap() as u64;
        assert_eq!(part, 52 * MIB);
        assert!((500 * GIB).div_ceil(part) <= 10_000);
        // S3's largest object, 5 TiB, fits; what would need parts over
        // 5 GiB (more than 10,000 × 5 GiB) does not.
        let part = choose_part(5 * 1024 * GIB, min, 10_000).unwrap() as u64;
        assert!(part <= MAX_PART as u64 && (5 * 1024 * GIB).div_ceil(part) <= 10_000);
        assert!(choose_part(10_000 * 5 * GIB + 1, min, 10_000).is_err());
        // A store that allows 3 parts.
        assert_eq!(choose_part(20 * MIB, 5 << 20, 3), Ok((7 * MIB) as usize));
    }

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

//! The real object stores the store tests talk to: moto's S3 server and
//! Azurite, on 127.0.0.1, found through OMNI_TEST_S3_ENDPOINT and
//! OMNI_TEST_AZURITE_URL (`. .ci/stores.sh` starts both). The tests that
//! need them are `#[ignore]`d, so that a plain `cargo nextest run` reports
//! them as skipped; run explicitly (`--run-ignored all`), they fail when a
//! store is missing.

use std::io::{Read, Write};
use std::net::TcpStream;

use base64::Engine as _;
use hmac::{KeyInit, Mac};

pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";
/// Azurite's well-known development key (public, documented by Microsoft).
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

fn required(var: &str) -> String {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!("{var} is not set: start the test stores with `. .ci/stores.sh`"),
    }
}

/// A unique, valid bucket or container name.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{:x}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
            & 0xffff_ffff
    )
}

/// One plain HTTP/1.1 request; returns the status code.
pub fn http(endpoint: &str, method: &str, path: &str, headers: &[(&str, String)]) -> u16 {
    let authority = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = TcpStream::connect(authority).expect("the store is reachable");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Length: 0\r\nConnection: close\r\n"
    );
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

pub struct S3 {
    pub endpoint: String,
    pub bucket: String,
}

impl S3 {
    /// A fresh bucket on the test S3 server.
    pub fn new() -> Self {
        let endpoint = required("OMNI_TEST_S3_ENDPOINT");
        let bucket = unique("omni");
        let status = http(&endpoint, "PUT", &format!("/{bucket}"), &[]);
        assert_eq!(status, 200, "cannot create bucket {bucket}");
        Self { endpoint, bucket }
    }

    /// The environment a launcher needs to reach it (through `endpoint`).
    pub fn env(&self, endpoint: &str) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ENDPOINT_URL", endpoint.to_string()),
        ]
    }

    pub fn uri(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }
}

pub struct Azurite {
    pub url: String,
    pub container: String,
}

impl Azurite {
    /// A fresh container on Azurite.
    pub fn new() -> Self {
        let url = required("OMNI_TEST_AZURITE_URL");
        let container = unique("omni");
        let date = chrono::Utc::now()
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        let version = "2021-08-06";
        let to_sign = format!(
            "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{version}\n/{AZURITE_ACCOUNT}/{AZURITE_ACCOUNT}/{container}\nrestype:container"
        );
        let key = base64::engine::general_purpose::STANDARD
            .decode(AZURITE_KEY)
            .unwrap();
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
        mac.update(to_sign.as_bytes());
        let signature =
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
        let status = http(
            &url,
            "PUT",
            &format!("/{AZURITE_ACCOUNT}/{container}?restype=container"),
            &[
                ("x-ms-date", date),
                ("x-ms-version", version.into()),
                (
                    "Authorization",
                    format!("SharedKey {AZURITE_ACCOUNT}:{signature}"),
                ),
            ],
        );
        assert_eq!(status, 201, "cannot create container {container}");
        Self { url, container }
    }

    /// The environment a launcher needs to reach it (through `url`).
    pub fn env(&self, url: &str) -> Vec<(&'static str, String)> {
        vec![(
            "AZURE_STORAGE_CONNECTION_STRING",
            format!(
                "DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};BlobEndpoint={url}/{AZURITE_ACCOUNT};"
            ),
        )]
    }

    pub fn uri(&self, key: &str) -> String {
        format!("azureblob://{AZURITE_ACCOUNT}/{}/{key}", self.container)
    }
}

//! What a store's failure means: transient (a retry of the job can help:
//! 5xx, throttling, resets, timeouts, refused connections) or permanent (no
//! such bucket, access denied, no credentials, a read-only target), with a
//! one-line reason instead of the store client's dump.

use std::error::Error as StdError;

use object_store::client::HttpErrorKind;

use crate::error::{Error, Fault, one_line};
use crate::uri::{Scheme, StoreUri};

/// Whether the operation wrote or read; a missing bucket and a missing
/// object both come back as "not found".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Read,
    Write,
}

/// The store error of `what` on `uri`.
pub fn store_error(
    what: &'static str,
    uri: &StoreUri,
    key: &str,
    op: Op,
    err: object_store::Error,
) -> Error {
    let (fault, detail) = classify(&err, op, uri.scheme);
    Error::Store {
        what,
        uri: uri.uri_of(key),
        fault,
        detail,
        source: Some(Box::new(err)),
    }
}

/// A store that cannot even be configured (a bad endpoint, an option it
/// does not know): nothing a retry changes.
pub fn open_error(uri: &StoreUri, err: object_store::Error) -> Error {
    Error::Store {
        what: "cannot open",
        uri: uri.uri_of(""),
        fault: Fault::Permanent,
        detail: one_line(&err.to_string()),
        source: Some(Box::new(err)),
    }
}

fn classify(err: &object_store::Error, op: Op, scheme: Scheme) -> (Fault, String) {
    use object_store::Error as E;
    match err {
        E::NotFound { .. } => match op {
            Op::Write => (
                Fault::Permanent,
                format!("no such {}", container_word(scheme)),
            ),
            Op::Read => (Fault::Permanent, "no such object".into()),
        },
        E::PermissionDenied { .. } => (
            Fault::Permanent,
            "access denied: the credentials in use may not do this".into(),
        ),
        E::Unauthenticated { .. } => (
            Fault::Permanent,
            "the store refused the credentials (401)".into(),
        ),
        E::AlreadyExists { .. } => (Fault::Permanent, "the object already exists".into()),
        E::Precondition { .. } => (
            Fault::Permanent,
            "the object changed while it was in use".into(),
        ),
        E::InvalidPath { source } => (Fault::InvalidKey, one_line(&source.to_string())),
        E::NotSupported { .. } | E::NotImplemented { .. } | E::UnknownConfigurationKey { .. } => {
            (Fault::Permanent, one_line(&err.to_string()))
        }
        _ => generic(err, scheme),
    }
}

fn container_word(scheme: Scheme) -> &'static str {
    match scheme {
        Scheme::S3 => "bucket",
        Scheme::Azure => "container",
        Scheme::File => "directory",
        Scheme::Http => "server",
    }
}

/// A failure object_store has no variant for: find the HTTP status or the
/// transport error in its chain.
fn generic(err: &object_store::Error, scheme: Scheme) -> (Fault, String) {
    let text = one_line(&err.to_string());
    if let Some(detail) = credentials(&text, scheme) {
        return (Fault::Permanent, detail);
    }
    let budget = super::config::retry_budget().as_secs();
    let mut cause: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(current) = cause {
        if let Some(http) = current.downcast_ref::<object_store::client::HttpError>() {
            let fault = match http.kind() {
                HttpErrorKind::Decode | HttpErrorKind::Unknown => Fault::Permanent,
                _ => Fault::Transient,
            };
            return (fault, with_budget(fault, deepest(current), budget));
        }
        cause = current.source();
    }
    match status(&text) {
        Some(code) => {
            let fault = if code >= 500 || code == 429 || code == 408 {
                Fault::Transient
            } else {
                Fault::Permanent
            };
            let reason = match service_code(&text) {
                Some(service) => format!("the store answered {code} {service}"),
                None => format!("the store answered {code}"),
            };
            (fault, with_budget(fault, reason, budget))
        }
        None if [
            "SlowDown",
            "InternalError",
            "ServiceUnavailable",
            "RequestTimeout",
        ]
        .iter()
        .any(|c| text.contains(c)) =>
        {
            let reason = format!(
                "the store answered {}",
                service_code(&text).unwrap_or("an error")
            );
            (
                Fault::Transient,
                with_budget(Fault::Transient, reason, budget),
            )
        }
        None => (Fault::Permanent, text),
    }
}

fn with_budget(fault: Fault, reason: String, budget: u64) -> String {
    match fault {
        Fault::Transient => format!("{reason} (still failing after retrying for {budget} s)"),
        _ => reason,
    }
}

/// The innermost message of an error chain: "Connection refused (os error
/// 111)" rather than "error sending request".
fn deepest(err: &(dyn StdError + 'static)) -> String {
    let mut last = err;
    while let Some(next) = last.source() {
        last = next;
    }
    one_line(&last.to_string())
}

/// The HTTP status in object_store's "… status code: 503 …" text.
fn status(text: &str) -> Option<u16> {
    let (_, rest) = text.split_once("status code: ")?;
    rest.get(..3)?.parse().ok()
}

/// The service's own error code (`<Code>NoSuchBucket</Code>`, Azure's
/// `<Code>ContainerNotFound</Code>`).
fn service_code(text: &str) -> Option<&str> {
    let (_, rest) = text.split_once("<Code>")?;
    rest.split_once("</Code>").map(|(code, _)| code)
}

/// A failure to get credentials from the instance metadata service or a
/// managed identity: say so plainly.
fn credentials(text: &str, scheme: Scheme) -> Option<String> {
    let metadata = [
        "/latest/api/token",
        "security-credentials",
        "metadata/identity",
    ]
    .iter()
    .any(|marker| text.contains(marker))
        || text.contains("169.254.169.254");
    if !metadata {
        return None;
    }
    Some(match scheme {
        Scheme::Azure => "no Azure credentials found: set AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_ACCOUNT_KEY or AZURE_STORAGE_SAS_KEY, or give the pool or pod a managed or workload identity (the managed identity endpoint gave none)".into(),
        _ => "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give the job a role (ECS task role, IRSA, instance profile); the instance metadata service gave none".into(),
    })
}

/// A local filesystem failure of a `file://` target.
pub fn io_fault(err: &std::io::Error) -> Fault {
    use std::io::ErrorKind as K;
    match err.kind() {
        K::Interrupted | K::TimedOut | K::WouldBlock | K::ResourceBusy => Fault::Transient,
        _ => Fault::Permanent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_codes() {
        assert_eq!(
            status(
                "Error performing PUT … Server returned non-2xx status code: 503 Service Unavailable: "
            ),
            Some(503)
        );
        assert_eq!(
            service_code("<Error><Code>NoSuchBucket</Code></Error>"),
            Some("NoSuchBucket")
        );
        assert!(credentials("GET http://169.254.169.254/latest/api/token", Scheme::S3).is_some());
        assert!(credentials("connection refused", Scheme::S3).is_none());
    }
}

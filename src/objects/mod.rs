//! The object-store client (DESIGN.md §4): `s3://`, `azureblob://` and
//! `file://` URIs, streaming uploads (multipart / staged blocks, hashed on
//! the way) and downloads, retries of transient errors, and what a failure
//! means (`fault`).
//!
//! Ground floor: owns credentials, endpoints, retry policy and object keys.
//! Keys are raw: `50%.txt` is stored as `50%.txt`, never re-encoded. It
//! must not know about specs or results.json: `stage` and `store` decide
//! what goes where.

mod config;
mod download;
mod fault;
mod local;
mod upload;

use std::sync::Arc;

use futures::StreamExt;
use object_store::path::Path as Key;
use object_store::{Attribute, Attributes, ObjectStore, ObjectStoreExt, PutOptions};

pub use crate::digest::Digests;
use crate::digest::Hasher;
pub use config::part_size;
use fault::{Op, store_error};

use crate::error::{Error, Fault};
use crate::uri::{Scheme, StoreUri};

/// An opened store: one backend per bucket, container or filesystem.
#[derive(Clone, Debug)]
pub struct Store {
    backend: Backend,
    pub uri: StoreUri,
}

#[derive(Clone, Debug)]
enum Backend {
    Remote(Arc<dyn ObjectStore>),
    /// `file://`: the local filesystem, written by `local`.
    Local,
}

/// Tells transfers to stop; they abort what they started (a multipart
/// upload is aborted, a temporary file removed) rather than leave it.
#[derive(Clone, Debug)]
pub struct Cancel(tokio::sync::watch::Receiver<bool>);

/// The sending side of a `Cancel`.
#[derive(Debug)]
pub struct Canceller(tokio::sync::watch::Sender<bool>);

impl Cancel {
    pub fn new() -> (Canceller, Cancel) {
        let (tx, rx) = tokio::sync::watch::channel(false);
        (Canceller(tx), Cancel(rx))
    }

    pub fn is_cancelled(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves when cancelled; never, if the canceller is gone.
    pub async fn cancelled(&mut self) {
        loop {
            if *self.0.borrow_and_update() {
                return;
            }
            if self.0.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

impl Canceller {
    pub fn cancel(&self) {
        let _ = self.0.send(true);
    }
}

/// What a stored object was when it was read, so that a write can insist
/// on replacing exactly that.
#[derive(Clone, Debug)]
pub struct Version {
    /// A cloud store's version (ETag and, where kept, version id).
    remote: Option<object_store::UpdateVersion>,
    /// A `file://` object's contents, hashed.
    local: Option<String>,
}

/// What a write may do to an object already there.
#[derive(Clone, Debug)]
pub enum Replace {
    /// Whatever is there.
    Anything,
    /// Only create: fail when the object exists.
    Nothing,
    /// Only the version that was read: fail when it changed since.
    Exactly(Version),
}

impl Store {
    pub fn open(uri: &StoreUri) -> Result<Self, Error> {
        let backend = match uri.scheme {
            Scheme::File => Backend::Local,
            Scheme::S3 => Backend::Remote(config::s3(uri)?),
            Scheme::Azure => Backend::Remote(config::azure(uri)?),
            Scheme::Http => Backend::Remote(config::http(uri)?),
        };
        Ok(Self {
            backend,
            uri: uri.clone(),
        })
    }

    /// The object key of a raw key text; a key with empty or `.`/`..`
    /// segments or control characters cannot be used.
    fn key(&self, key: &str) -> Result<Key, Error> {
        Key::parse(key).map_err(|err| Error::Store {
            what: "cannot use",
            uri: self.uri.uri_of(key),
            fault: Fault::InvalidKey,
            detail: crate::error::one_line(&err.to_string()),
            source: Some(Box::new(err)),
        })
    }

    fn local_error(&self, what: &'static str, key: &str, err: std::io::Error) -> Error {
        Error::Store {
            what,
            uri: self.uri.uri_of(key),
            fault: fault::io_fault(&err),
            detail: crate::error::one_line(&err.to_string()),
            source: Some(Box::new(err)),
        }
    }

    /// Writes a small object in one request, replacing only what `replace`
    /// allows (a conditional write: If-None-Match / If-Match on S3 and
    /// Azure; a link or a compare-and-rename on `file://`). A write the
    /// condition refused is a permanent store error saying so.
    pub async fn put_bytes_replacing(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
        replace: Replace,
    ) -> Result<(), Error> {
        let conflict = || Error::Store {
            what: "will not replace",
            uri: self.uri.uri_of(key),
            fault: Fault::Conflict,
            detail: "another run wrote it since this one started".into(),
            source: None,
        };
        match &self.backend {
            Backend::Local => {
                let target = local::path(key);
                let written = tokio::task::spawn_blocking(move || match replace {
                    Replace::Anything => local::put(&target, &bytes).map(|()| true),
                    Replace::Nothing => local::create(&target, &bytes),
                    Replace::Exactly(version) => {
                        local::replace(&target, &bytes, version.local.as_deref())
                    }
                })
                .await
                .map_err(|err| Error::Internal(format!("a write task failed: {err}")))?
                .map_err(|err| self.local_error("cannot store", key, err))?;
                if written { Ok(()) } else { Err(conflict()) }
            }
            Backend::Remote(store) => {
                let mode = match replace {
                    Replace::Anything => object_store::PutMode::Overwrite,
                    Replace::Nothing => object_store::PutMode::Create,
                    Replace::Exactly(Version {
                        remote: Some(version),
                        ..
                    }) => object_store::PutMode::Update(version),
                    Replace::Exactly(_) => object_store::PutMode::Overwrite,
                };
                let opts = PutOptions {
                    mode,
                    attributes: attributes(content_type),
                    ..Default::default()
                };
                match store.put_opts(&self.key(key)?, bytes.into(), opts).await {
                    Ok(_) => Ok(()),
                    Err(
                        object_store::Error::AlreadyExists { .. }
                        | object_store::Error::Precondition { .. },
                    ) => Err(conflict()),
                    Err(err) => Err(store_error("cannot store", &self.uri, key, Op::Write, err)),
                }
            }
        }
    }

    /// Reads a small object whole, with its version; `Ok(None)`: there is
    /// none. Larger than `cap` is an error.
    pub async fn get_versioned(
        &self,
        key: &str,
        cap: u64,
    ) -> Result<Option<(Vec<u8>, Version)>, Error> {
        let store = match &self.backend {
            Backend::Local => {
                return Ok(self.get_bytes(key, cap).await?.map(|bytes| {
                    let local = crate::digest::read(&bytes[..], None)
                        .ok()
                        .flatten()
                        .map(|d| d.sha256);
                    (
                        bytes,
                        Version {
                            remote: None,
                            local,
                        },
                    )
                }));
            }
            Backend::Remote(store) => store,
        };
        let location = self.key(key)?;
        let result = match store.get(&location).await {
            Ok(r) => r,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(err) => return Err(store_error("cannot read", &self.uri, key, Op::Read, err)),
        };
        let version = Version {
            remote: Some(object_store::UpdateVersion {
                e_tag: result.meta.e_tag.clone(),
                version: result.meta.version.clone(),
            }),
            local: None,
        };
        if result.meta.size > cap {
            return Err(Error::Store {
                what: "cannot read",
                uri: self.uri.uri_of(key),
                fault: Fault::Permanent,
                detail: format!("larger than {} MiB", cap >> 20),
                source: None,
            });
        }
        let bytes = result
            .bytes()
            .await
            .map_err(|err| store_error("cannot read", &self.uri, key, Op::Read, err))?;
        Ok(Some((bytes.to_vec(), version)))
    }

    /// Reads a small object whole: at most `cap` bytes, else an error.
    /// `Ok(None)`: no such object.
    pub async fn get_bytes(&self, key: &str, cap: u64) -> Result<Option<Vec<u8>>, Error> {
        let too_big = || Error::Store {
            what: "cannot read",
            uri: self.uri.uri_of(key),
            fault: Fault::Permanent,
            detail: format!("larger than {} MiB", cap >> 20),
            source: None,
        };
        let store = match &self.backend {
            Backend::Local => {
                return match crate::files::read_regular(&local::path(key), cap) {
                    Ok(bytes) => Ok(Some(bytes)),
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(err) => Err(self.local_error("cannot read", key, err)),
                };
            }
            Backend::Remote(store) => store,
        };
        let result = match store.get(&self.key(key)?).await {
            Ok(r) => r,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(err) => return Err(store_error("cannot read", &self.uri, key, Op::Read, err)),
        };
        if result.meta.size > cap {
            return Err(too_big());
        }
        let mut bytes = Vec::new();
        let mut stream = result.into_stream();
        while let Some(chunk) = stream.next().await {
            let chunk =
                chunk.map_err(|err| store_error("cannot read", &self.uri, key, Op::Read, err))?;
            if (bytes.len() + chunk.len()) as u64 > cap {
                return Err(too_big());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Some(bytes))
    }

    /// Reads an object through, hashing it: its size and checksums.
    /// `Ok(None)`: no such object.
    pub async fn digest(&self, key: &str) -> Result<Option<(u64, Digests)>, Error> {
        let store = match &self.backend {
            Backend::Local => {
                let path = local::path(key);
                let file = match std::fs::File::open(&path) {
                    Ok(file) => file,
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(err) => return Err(self.local_error("cannot read", key, err)),
                };
                let size = file
                    .metadata()
                    .map_err(|err| self.local_error("cannot read", key, err))?
                    .len();
                let digests = tokio::task::spawn_blocking(move || crate::digest::read(file, None))
                    .await
                    .map_err(|err| Error::Internal(format!("a read task failed: {err}")))?
                    .map_err(|err| self.local_error("cannot read", key, err))?;
                return Ok(digests.map(|d| (size, d)));
            }
            Backend::Remote(store) => store,
        };
        let result = match store.get(&self.key(key)?).await {
            Ok(r) => r,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(err) => return Err(store_error("cannot read", &self.uri, key, Op::Read, err)),
        };
        let mut stream = result.into_stream();
        let mut hasher = Hasher::default();
        let mut size = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk =
                chunk.map_err(|err| store_error("cannot read", &self.uri, key, Op::Read, err))?;
            size += chunk.len() as u64;
            hasher.update(&chunk);
        }
        Ok(Some((size, hasher.finish())))
    }

    /// Every key under a prefix (a "directory"), sorted, exactly as stored.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, Error> {
        let store = match &self.backend {
            Backend::Local => {
                return local::list(&local::path(prefix))
                    .map_err(|err| self.local_error("cannot list", prefix, err));
            }
            Backend::Remote(store) => store,
        };
        let mut stream = store.list(Some(&self.key(prefix)?));
        let mut keys = Vec::new();
        while let Some(meta) = stream.next().await {
            let meta =
                meta.map_err(|err| store_error("cannot list", &self.uri, prefix, Op::Read, err))?;
            keys.push(String::from(meta.location));
        }
        keys.sort();
        Ok(keys)
    }
}

/// Content types for cloud stores.
fn attributes(content_type: &str) -> Attributes {
    let mut attributes = Attributes::new();
    attributes.insert(Attribute::ContentType, content_type.to_string().into());
    attributes
}

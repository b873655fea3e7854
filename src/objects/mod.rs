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
mod fault;
mod local;

use std::path::Path;
use std::sync::Arc;

use futures::StreamExt;
use object_store::path::Path as Key;
use object_store::{
    Attribute, Attributes, ObjectStore, ObjectStoreExt, PutMultipartOptions, PutOptions,
};

pub use crate::digest::Digests;
use crate::digest::Hasher;
pub use config::part_size;
use fault::{Op, store_error};

use crate::error::{Error, Fault};
use crate::uri::{Scheme, StoreUri};

/// Objects larger than this are downloaded in ranges, several at once.
const RANGED_ABOVE: u64 = 32 << 20;
/// The size of one range.
const RANGE: u64 = 8 << 20;
/// How many ranges are in flight (and in memory) at once, in all.
const RANGES_AT_ONCE: usize = 4;

/// The range buffers of the whole process: `RANGES_AT_ONCE` ranges in
/// flight, shared by the large objects being downloaded.
static RANGE_SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(RANGES_AT_ONCE);

/// How many large objects are being downloaded.
static LARGE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// One large object being downloaded, counted while it lives.
struct Large(bool);

impl Large {
    fn count(large: bool) -> Self {
        if large {
            LARGE.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        Self(large)
    }

    /// The other large objects being downloaded now.
    fn others(&self) -> usize {
        LARGE
            .load(std::sync::atomic::Ordering::SeqCst)
            .saturating_sub(usize::from(self.0))
    }
}

impl Drop for Large {
    fn drop(&mut self) {
        if self.0 {
            LARGE.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
        }
    }
}

/// This object's share of the range buffers: at least one (waited for),
/// all of them when it is alone, an even share otherwise. Held until it is
/// downloaded; holding one is enough to make progress, so no object waits
/// on another's.
async fn range_slots(others: usize) -> Result<Vec<tokio::sync::SemaphorePermit<'static>>, Error> {
    let first = RANGE_SLOTS
        .acquire()
        .await
        .map_err(|_| Error::Internal("the download buffers are gone".into()))?;
    let share = (RANGES_AT_ONCE / (others + 1)).max(1);
    let mut slots = vec![first];
    while slots.len() < share {
        match RANGE_SLOTS.try_acquire() {
            Ok(slot) => slots.push(slot),
            Err(_) => break,
        }
    }
    Ok(slots)
}

/// The memory all uploads of a process may hold in buffered parts, in
/// MiB: `OMNI_UPLOAD_BUFFER_MIB`, default 32 (four 8 MiB parts in flight
/// at once, shared by every upload), at least one part's worth.
fn budget_mib() -> u32 {
    static MIB: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *MIB.get_or_init(|| {
        std::env::var("OMNI_UPLOAD_BUFFER_MIB")
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .filter(|&n: &u32| n >= 8)
            .unwrap_or(32)
    })
}

/// The process's upload memory budget, one permit per MiB.
fn budget() -> std::sync::Arc<tokio::sync::Semaphore> {
    static BUDGET: std::sync::OnceLock<std::sync::Arc<tokio::sync::Semaphore>> =
        std::sync::OnceLock::new();
    BUDGET
        .get_or_init(|| std::sync::Arc::new(tokio::sync::Semaphore::new(budget_mib() as usize)))
        .clone()
}

/// The permits a part of `part` bytes holds: its MiB, or the whole budget
/// for a part larger than that (one part at a time, then).
fn permits(part: usize) -> u32 {
    u32::try_from(part.div_ceil(1 << 20))
        .unwrap_or(u32::MAX)
        .min(budget_mib())
}

/// Reads up to `part` bytes straight into one buffer of that size (no
/// intermediate copies), fewer only at the end of the file, and hashes
/// them, off the runtime's thread; gives the file and the hasher back for
/// the next part.
async fn read_part(
    file: std::fs::File,
    part: usize,
    mut hasher: Hasher,
) -> std::io::Result<(std::fs::File, Vec<u8>, Hasher)> {
    let mut bytes = vec![0u8; part];
    tokio::task::spawn_blocking(move || {
        let mut file = file;
        let mut filled = 0;
        while filled < part {
            match std::io::Read::read(&mut file, &mut bytes[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        bytes.truncate(filled);
        hasher.update(&bytes);
        Ok((file, bytes, hasher))
    })
    .await
    .map_err(|err| std::io::Error::other(err.to_string()))?
}

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

/// The multipart part size for this process (checked by the contract).
fn parts() -> usize {
    part_size().unwrap_or(8 << 20)
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

    /// Uploads an open file to `key`, streaming it in parts; returns the
    /// checksums of the bytes sent. `Ok(None)`: cancelled, and nothing of
    /// the upload is left behind.
    pub async fn upload(
        &self,
        file: std::fs::File,
        key: &str,
        content_type: &str,
        mut cancel: Cancel,
    ) -> Result<Option<Digests>, Error> {
        let store = match &self.backend {
            Backend::Local => {
                let target = local::path(key);
                let copied =
                    tokio::task::spawn_blocking(move || local::copy(file, &target, &cancel))
                        .await
                        .map_err(|err| Error::Internal(format!("an upload task failed: {err}")))?;
                return copied.map_err(|err| self.local_error("cannot store", key, err));
            }
            Backend::Remote(store) => store.clone(),
        };
        let location = self.key(key)?;
        let size = file
            .metadata()
            .map_err(|err| Error::io(format!("cannot read the output for {key}"), err))?
            .len();
        crate::progress::expect(size);
        let mut file = Some(file);
        let part = config::choose_part(size, parts(), config::max_parts()).map_err(|why| {
            Error::Store {
                what: "cannot store",
                uri: self.uri.uri_of(key),
                fault: Fault::Permanent,
                detail: why,
                source: None,
            }
        })?;
        let failed = |err| store_error("cannot store", &self.uri, key, Op::Write, err);
        let read_failed = |err| Error::io(format!("cannot read the output for {key}"), err);
        // Every buffered part holds its share of the process's budget until
        // it is sent: memory stays bounded whatever the number and size of
        // the uploads.
        let budget = budget();
        let share = permits(part);
        if size <= part as u64 {
            let permit = tokio::select! {
                permit = budget.clone().acquire_many_owned(share) => permit,
                () = cancel.cancelled() => return Ok(None),
            };
            let whole = usize::try_from(size).unwrap_or(part);
            let opened = file
                .take()
                .ok_or_else(|| Error::Internal("no file".into()))?;
            let (_, bytes, hasher) = read_part(opened, whole, Hasher::default())
                .await
                .map_err(read_failed)?;
            let opts = PutOptions {
                attributes: attributes(content_type),
                ..Default::default()
            };
            let put = store.put_opts(&location, bytes.into(), opts);
            let done = tokio::select! {
                done = put => done.map(|_| Some(hasher.finish())).map_err(failed),
                () = cancel.cancelled() => Ok(None),
            };
            drop(permit);
            crate::progress::advance(size);
            return done;
        }
        let opts = PutMultipartOptions {
            attributes: attributes(content_type),
            ..Default::default()
        };
        // Creating the upload is not interrupted: an upload id the store
        // made and we never heard of could not be aborted.
        let mut upload = store
            .put_multipart_opts(&location, opts)
            .await
            .map_err(failed)?;
        let mut hasher = Some(Hasher::default());
        // Parts are sent by tasks of their own, so that they go on while the
        // next part is read and hashed; dropping the set stops them.
        let mut in_flight = tokio::task::JoinSet::new();
        let mut at_end = false;
        let outcome: Result<bool, Error> = loop {
            if at_end && in_flight.is_empty() {
                break Ok(true);
            }
            // A buffer for the next part, or a part finished, or a stop.
            let permit = tokio::select! {
                permit = budget.clone().acquire_many_owned(share), if !at_end => permit,
                Some(sent) = in_flight.join_next(), if !in_flight.is_empty() => {
                    match sent {
                        Ok(Ok(())) => continue,
                        Ok(Err(err)) => break Err(failed(err)),
                        Err(err) => break Err(Error::Internal(format!("a part's upload failed: {err}"))),
                    }
                }
                () = cancel.cancelled() => break Ok(false),
            };
            let Ok(permit) = permit else {
                break Err(Error::Internal("the upload budget is gone".into()));
            };
            let Some(opened) = file.take() else {
                break Err(Error::Internal(
                    "the output was lost while reading it".into(),
                ));
            };
            let Some(hashing) = hasher.take() else {
                break Err(Error::Internal("the output's hash was lost".into()));
            };
            let bytes = match read_part(opened, part, hashing).await {
                Ok((opened, bytes, hashed)) => {
                    file = Some(opened);
                    hasher = Some(hashed);
                    bytes
                }
                Err(err) => break Err(read_failed(err)),
            };
            if bytes.len() < part {
                at_end = true;
            }
            if bytes.is_empty() {
                continue;
            }
            let length = bytes.len() as u64;
            let sending = upload.put_part(bytes.into());
            in_flight.spawn(async move {
                let sent = sending.await;
                drop(permit);
                if sent.is_ok() {
                    crate::progress::advance(length);
                }
                sent
            });
        };
        match outcome {
            Ok(true) => {
                // `complete` failing leaves parts the store will expire; it
                // is aborted to free them now.
                if let Err(err) = upload.complete().await {
                    let _ = upload.abort().await;
                    return Err(failed(err));
                }
                hasher
                    .map(|h| Some(h.finish()))
                    .ok_or_else(|| Error::Internal("the output's hash was lost".into()))
            }
            Ok(false) => {
                drop(in_flight);
                let _ = upload.abort().await;
                Ok(None)
            }
            Err(err) => {
                drop(in_flight);
                let _ = upload.abort().await;
                Err(err)
            }
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

    /// Downloads `key` into `local`, streaming, and returns the checksums
    /// of what it wrote. `Ok(None)`: no such object.
    pub async fn download(&self, key: &str, local: &Path) -> Result<Option<Digests>, Error> {
        let store = match &self.backend {
            Backend::Local => {
                let source = match std::fs::File::open(local::path(key)) {
                    Ok(file) => file,
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                    Err(err) => return Err(self.local_error("cannot read", key, err)),
                };
                return local::copy_plain(source, local)
                    .map(Some)
                    .map_err(|err| Error::io(format!("cannot write {}", local.display()), err));
            }
            Backend::Remote(store) => store,
        };
        let result = match store.get(&self.key(key)?).await {
            Ok(r) => r,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(err) => return Err(store_error("cannot read", &self.uri, key, Op::Read, err)),
        };
        if let Some(parent) = local.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|err| Error::io(format!("cannot create {}", parent.display()), err))?;
        }
        let write_failed = |err| Error::io(format!("cannot write {}", local.display()), err);
        let read_failed = |err| store_error("cannot read", &self.uri, key, Op::Read, err);
        let file = tokio::fs::File::create(local).await.map_err(write_failed)?;
        // What arrives is hashed and written on a worker, in order, so that
        // this thread goes on receiving the ranges in flight meanwhile.
        let mut writer = Writer::start(file.into_std().await);
        let size = result.meta.size;
        crate::progress::expect(size);
        let version = result.meta.e_tag.clone();
        // A large object: this response gives its first range, the rest
        // comes in ranges fetched several at once, written in order.
        let first = if size > RANGED_ABOVE { RANGE } else { size };
        // Counted from its first response, so that the large objects
        // staged together know of each other when their ranges start.
        let large = Large::count(size > RANGED_ABOVE);
        let mut stream = result.into_stream();
        let mut written = 0u64;
        while written < first {
            let Some(chunk) = stream.next().await else {
                break;
            };
            let chunk = chunk.map_err(read_failed)?;
            let take = usize::try_from((first - written).min(chunk.len() as u64)).unwrap_or(0);
            if !writer.write(chunk.slice(..take)).await {
                break;
            }
            written += take as u64;
            crate::progress::advance(take as u64);
        }
        drop(stream);
        if written < size && writer.working() {
            // The range buffers are shared by the large objects staged
            // together, so that memory stays bounded however many there
            // are: one alone takes them all, several split them.
            let slots = range_slots(large.others()).await?;
            let location = self.key(key)?;
            let ranges: Vec<std::ops::Range<u64>> = (written..size)
                .step_by(usize::try_from(RANGE).unwrap_or(usize::MAX))
                .map(|start| start..(start + RANGE).min(size))
                .collect();
            let fetches = ranges.into_iter().map(|range| {
                // Every range of one version: a changed object fails the
                // download rather than mix two.
                let opts = object_store::GetOptions {
                    range: Some(range.into()),
                    if_match: version.clone(),
                    ..Default::default()
                };
                let location = location.clone();
                async move { store.get_opts(&location, opts).await?.bytes().await }
            });
            let mut ordered = futures::stream::iter(fetches).buffered(slots.len());
            while let Some(bytes) = ordered.next().await {
                let bytes = bytes.map_err(read_failed)?;
                let len = bytes.len() as u64;
                if !writer.write(bytes).await {
                    break;
                }
                crate::progress::advance(len);
            }
        }
        writer.finish().await.map(Some).map_err(write_failed)
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

/// Hashes and writes a download's bytes, in order, on a blocking worker.
struct Writer {
    /// Two chunks queued at most: with the ranges in flight, what bounds a
    /// download's memory.
    queue: Option<tokio::sync::mpsc::Sender<bytes::Bytes>>,
    done: tokio::task::JoinHandle<std::io::Result<Digests>>,
}

impl Writer {
    fn start(mut file: std::fs::File) -> Self {
        let (queue, mut chunks) = tokio::sync::mpsc::channel::<bytes::Bytes>(2);
        let done = tokio::task::spawn_blocking(move || {
            use std::io::Write;
            let mut hasher = Hasher::default();
            while let Some(chunk) = chunks.blocking_recv() {
                hasher.update(&chunk);
                file.write_all(&chunk)?;
            }
            file.flush()?;
            Ok(hasher.finish())
        });
        Self {
            queue: Some(queue),
            done,
        }
    }

    /// Queues a chunk; `false` when the worker has stopped (a write
    /// failed), and `finish` says why.
    async fn write(&mut self, chunk: bytes::Bytes) -> bool {
        if let Some(queue) = &self.queue
            && queue.send(chunk).await.is_err()
        {
            self.queue = None;
        }
        self.working()
    }

    fn working(&self) -> bool {
        self.queue.is_some()
    }

    /// Waits for everything queued to be written; the digests of it all.
    async fn finish(mut self) -> std::io::Result<Digests> {
        self.queue = None;
        match self.done.await {
            Ok(result) => result,
            Err(err) => Err(std::io::Error::other(err)),
        }
    }
}

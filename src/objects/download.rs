//! Downloads: an object streamed to a local file and hashed on the way; a
//! large one in ranges fetched several at once, within buffers the whole
//! process shares.

use std::path::Path;

use futures::StreamExt;
use object_store::{ObjectStore, ObjectStoreExt};

use super::fault::{Op, store_error};
use super::{Backend, Digests, Store, local};
use crate::digest::Hasher;
use crate::error::Error;

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

impl Store {
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
            if !writer.write_holding(chunk.slice(..take), None).await {
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
            // A range holds a buffer from its request until its writer is
            // done with it: fetched, waiting for the ones before it,
            // queued or being written. An object has one buffer per slot
            // and one more, so that a range is fetched while the one
            // before it is written: never more than `2 * RANGES_AT_ONCE`
            // ranges in memory in the whole process, `RANGES_AT_ONCE + 1`
            // for one object alone. Buffers are granted in the order the
            // ranges are asked for (the semaphore is fair), so the next
            // range to write always has one.
            let held = std::sync::Arc::new(tokio::sync::Semaphore::new(slots.len() + 1));
            let fetches = ranges.into_iter().map(|range| {
                let held = held.clone();
                // Every range of one version: a changed object fails the
                // download rather than mix two.
                let opts = object_store::GetOptions {
                    range: Some(range.into()),
                    if_match: version.clone(),
                    ..Default::default()
                };
                let location = location.clone();
                async move {
                    let buffer =
                        held.acquire_owned()
                            .await
                            .map_err(|_| object_store::Error::Generic {
                                store: "download",
                                source: "the range buffers are gone".into(),
                            })?;
                    let bytes = store.get_opts(&location, opts).await?.bytes().await?;
                    Ok::<_, object_store::Error>((bytes, buffer))
                }
            });
            let mut ordered = futures::stream::iter(fetches).buffered(slots.len());
            while let Some(fetched) = ordered.next().await {
                let (bytes, buffer) = fetched.map_err(read_failed)?;
                let len = bytes.len() as u64;
                if !writer.write_holding(bytes, Some(buffer)).await {
                    break;
                }
                crate::progress::advance(len);
            }
        }
        writer.finish().await.map(Some).map_err(write_failed)
    }
}

/// A chunk for the writer, with the range buffer it holds until written.
type Held = (bytes::Bytes, Option<tokio::sync::OwnedSemaphorePermit>);

/// Hashes and writes a download's bytes, in order, on a blocking worker.
struct Writer {
    /// Two chunks queued at most; a range queued still holds its buffer.
    queue: Option<tokio::sync::mpsc::Sender<Held>>,
    done: tokio::task::JoinHandle<std::io::Result<Digests>>,
}

impl Writer {
    fn start(mut file: std::fs::File) -> Self {
        let (queue, mut chunks) = tokio::sync::mpsc::channel::<Held>(2);
        let done = tokio::task::spawn_blocking(move || {
            use std::io::Write;
            let mut hasher = Hasher::default();
            while let Some((chunk, buffer)) = chunks.blocking_recv() {
                hasher.update(&chunk);
                file.write_all(&chunk)?;
                drop((chunk, buffer));
            }
            file.flush()?;
            Ok(hasher.finish())
        });
        Self {
            queue: Some(queue),
            done,
        }
    }

    /// Queues a chunk (and the range buffer it holds until written);
    /// `false` when the worker has stopped (a write failed), and `finish`
    /// says why.
    async fn write_holding(
        &mut self,
        chunk: bytes::Bytes,
        buffer: Option<tokio::sync::OwnedSemaphorePermit>,
    ) -> bool {
        if let Some(queue) = &self.queue
            && queue.send((chunk, buffer)).await.is_err()
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

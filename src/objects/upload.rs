//! Uploads: a file streamed in parts chosen from its size, hashed on the
//! way, within a memory budget every upload of the process shares.

use object_store::{PutMultipartOptions, PutOptions};

use super::fault::{Op, store_error};
use super::{Backend, Cancel, Digests, Store, attributes, config, local, part_size};
use crate::digest::Hasher;
use crate::error::{Error, Fault};

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

/// An output being read for its upload, and the hash of what was read.
type Reading = (std::fs::File, Hasher);

/// Reads up to `part` bytes straight into one buffer of that size (no
/// intermediate copies), fewer only at the end of the file, and hashes
/// them, off the runtime's thread; gives the file and its hash back for
/// the next part.
async fn read_part(reading: Reading, part: usize) -> std::io::Result<(Reading, Vec<u8>)> {
    let mut bytes = vec![0u8; part];
    tokio::task::spawn_blocking(move || {
        let (mut file, mut hasher) = reading;
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
        Ok(((file, hasher), bytes))
    })
    .await
    .map_err(|err| std::io::Error::other(err.to_string()))?
}

/// The multipart part size for this process (checked by the contract).
fn parts() -> usize {
    part_size().unwrap_or(8 << 20)
}

impl Store {
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
        let mut reading = Some((file, Hasher::default()));
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
            let opened = reading
                .take()
                .ok_or_else(|| Error::Internal("no file".into()))?;
            let ((_, hasher), bytes) = read_part(opened, whole).await.map_err(read_failed)?;
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
            let Some(opened) = reading.take() else {
                break Err(Error::Internal(
                    "the output was lost while reading it".into(),
                ));
            };
            let bytes = match read_part(opened, part).await {
                Ok((opened, bytes)) => {
                    reading = Some(opened);
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
                reading
                    .map(|(_, hasher)| Some(hasher.finish()))
                    .ok_or_else(|| Error::Internal("the output was lost while reading it".into()))
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
}

//! Stage 4: stages remote File and Directory inputs (`s3://`,
//! `azureblob://`) into `<workdir>/inputs/<name>/` before the command runs.
//!
//! Local paths and `file://` URIs are used where they are, unless the spec
//! says `stage: link` (a hard link, else a copy) or `stage: copy`: then
//! they are placed there too, secondary files beside them. The staged copy
//! keeps its original basename; `location` keeps the URI.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use futures::{StreamExt, TryStreamExt};

use crate::cwl::{DirectoryObject, FileObject};
use crate::diag::Problem;
use crate::error::{Error, Fault};
use crate::inputs::Inputs;
use crate::objects::Store;
use crate::spec::{Spec, Stage};
use crate::types::Constraints;
use crate::uri::{Scheme, StoreUri};
use crate::value::Value;
use crate::workdir;

/// Downloads every remote input, several at once (the objects in flight
/// are bounded by `objects`); returns the inputs with local `path`s.
pub async fn stage(spec: &Spec, inputs: &Inputs, workdir: &Path) -> Result<Inputs, Error> {
    let _progress = crate::progress::phase("staging inputs");
    let stores = Stores::default();
    let stores = &stores;
    let one = |name, value| stage_input(spec, stores, workdir, name, value);
    // Inputs in folders of their own come down together; those placed at
    // the top of the work directory (`stage:`) one after the other, so
    // that two with one name are caught.
    let own_folder = |name: &String| spec.inputs.get(name).is_some_and(|i| i.stage.is_none());
    let together = inputs
        .iter()
        .filter(|(name, _)| own_folder(name))
        .filter_map(|(name, value)| one(name, value));
    let mut staged: HashMap<String, Value> = futures::future::try_join_all(together)
        .await?
        .into_iter()
        .collect();
    for (name, value) in inputs.iter().filter(|(name, _)| !own_folder(name)) {
        if let Some(staging) = one(name, value) {
            let (name, value) = staging.await?;
            staged.insert(name, value);
        }
    }
    // In the inputs' order.
    Ok(inputs
        .keys()
        .filter_map(|name| Some((name.clone(), staged.remove(name)?)))
        .collect())
}

/// The staging of one input, if the spec declares it.
fn stage_input<'a>(
    spec: &'a Spec,
    stores: &'a Stores,
    workdir: &'a Path,
    name: &'a String,
    value: &'a Value,
) -> Option<impl std::future::Future<Output = Result<(String, Value), Error>> + 'a> {
    let input = spec.inputs.get(name)?;
    let how = How {
        constraints: &input.constraints,
        stage: input.stage,
    };
    let place = Place {
        dir: workdir::input_dir(workdir, name, None, input.stage.is_some()),
        json_path: format!("inputs.{name}"),
    };
    Some(async move { Ok((name.clone(), stage_value(stores, how, value, place).await?)) })
}

/// How one value is staged: what declares it, and the input's `stage`.
#[derive(Clone, Copy)]
struct How<'a> {
    constraints: &'a Constraints,
    stage: Option<Stage>,
}

/// Stages every File and Directory of a value, into folders named after
/// list indexes and record fields (`inputs/samples/0/reads/`), or at the
/// top of the work directory for an input the spec asks to `stage`.
fn stage_value<'a>(
    stores: &'a Stores,
    how: How<'a>,
    value: &'a Value,
    place: Place,
) -> futures::future::BoxFuture<'a, Result<Value, Error>> {
    Box::pin(async move {
        let below = |part: &str, json: String| Place {
            dir: if how.stage.is_some() {
                place.dir.clone()
            } else {
                place.dir.join(part)
            },
            json_path: json,
        };
        match value {
            Value::List(items) => {
                let staging = items.iter().enumerate().map(|(i, item)| {
                    let inner = below(&i.to_string(), format!("{}[{i}]", place.json_path));
                    stage_value(stores, how, item, inner)
                });
                // Elements in folders of their own come down together; all
                // placed in one folder (`stage:`), one after the other.
                if how.stage.is_none() {
                    return Ok(Value::List(futures::future::try_join_all(staging).await?));
                }
                let mut staged = Vec::with_capacity(items.len());
                for one in staging {
                    staged.push(one.await?);
                }
                Ok(Value::List(staged))
            }
            Value::Record(fields) => {
                let mut staged = indexmap::IndexMap::new();
                for (name, field_value) in fields {
                    let Some(field) = how.constraints.fields.iter().find(|f| &f.name == name)
                    else {
                        continue;
                    };
                    let inner_how = How {
                        constraints: &field.constraints,
                        stage: how.stage,
                    };
                    let inner = below(name, format!("{}.{name}", place.json_path));
                    staged.insert(
                        name.clone(),
                        stage_value(stores, inner_how, field_value, inner).await?,
                    );
                }
                Ok(Value::Record(staged))
            }
            other => stage_one(stores, how, other, &place).await,
        }
    })
}

/// Where one input goes, and how messages name it.
struct Place {
    dir: PathBuf,
    json_path: String,
}

impl Place {
    fn missing(&self, message: String) -> Error {
        Error::InputMissing(vec![Problem::new(self.json_path.clone(), message)])
    }

    /// A key the launcher cannot use is the input's fault, not the store's.
    fn input_error(&self, err: Error) -> Error {
        match err {
            Error::Store {
                fault: Fault::InvalidKey,
                ..
            } => self.missing(err.message()),
            other => other,
        }
    }
}

/// One opened store per bucket or container for the whole staging pass,
/// so that credentials (IMDS, ECS, workload identity) are fetched once.
#[derive(Default)]
struct Stores(std::sync::Mutex<HashMap<(Scheme, String), Store>>);

impl Stores {
    fn open(&self, uri: &StoreUri) -> Result<Store, Error> {
        let key = (uri.scheme, uri.root.clone());
        let mut opened = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(store) = opened.get(&key) {
            return Ok(store.clone());
        }
        let store = Store::open(uri)?;
        opened.insert(key, store.clone());
        Ok(store)
    }
}

/// How many objects are downloaded at once, across all inputs.
const OBJECTS_AT_ONCE: usize = 8;

/// The process's download slots.
fn objects() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| tokio::sync::Semaphore::new(OBJECTS_AT_ONCE))
}

/// Downloads one object in one of the process's slots.
async fn download(
    store: &Store,
    key: &str,
    local: &Path,
) -> Result<Option<crate::objects::Digests>, Error> {
    let _slot = objects()
        .acquire()
        .await
        .map_err(|_| Error::Internal("the download slots are gone".into()))?;
    store.download(key, local).await
}

/// A remote input's store URI; `None` for local ones (used in place).
fn remote(location: &str, has_path: bool) -> Option<Result<StoreUri, Error>> {
    if has_path {
        return None;
    }
    Some(StoreUri::parse(location).map_err(|err| Error::Usage(err.to_string())))
}

async fn stage_one(
    stores: &Stores,
    how: How<'_>,
    value: &Value,
    place: &Place,
) -> Result<Value, Error> {
    match value {
        Value::File(file) => match remote(&file.location, file.path.is_some()) {
            None => match (&file.path, how.stage) {
                (Some(path), Some(mode)) => {
                    let placed = place_local(path, &place.dir, mode, &siblings(how, path))
                        .await
                        .map_err(|err| {
                            place.missing(format!("cannot stage \"{}\": {err}", path.display()))
                        })?;
                    Ok(Value::File(Box::new(file.at(placed))))
                }
                _ => Ok(value.clone()),
            },
            Some(uri) => {
                let uri = uri?;
                let store = stores.open(&uri)?;
                let staged = stage_file(&store, how, file, &uri, place).await?;
                Ok(Value::File(Box::new(staged)))
            }
        },
        Value::Directory(dir) => match remote(&dir.location, dir.path.is_some()) {
            None => match (&dir.path, how.stage) {
                (Some(path), Some(mode)) => {
                    let placed = place_local(path, &place.dir, mode, &[])
                        .await
                        .map_err(|err| {
                            place.missing(format!("cannot stage \"{}\": {err}", path.display()))
                        })?;
                    Ok(Value::Directory(Box::new(dir.at(placed))))
                }
                _ => Ok(value.clone()),
            },
            Some(uri) => {
                let uri = uri?;
                let store = stores.open(&uri)?;
                let staged = stage_directory(&store, dir, &uri, place).await?;
                Ok(Value::Directory(Box::new(staged)))
            }
        },
        _ => Ok(value.clone()),
    }
}

async fn stage_file(
    store: &Store,
    how: How<'_>,
    file: &FileObject,
    uri: &StoreUri,
    place: &Place,
) -> Result<FileObject, Error> {
    let basename = uri.basename();
    if basename.is_empty() {
        return Err(place.missing(format!("\"{}\" names no object", file.location)));
    }
    let local = place.dir.join(basename);
    if how.stage.is_some() && local.exists() {
        return Err(place.missing(format!("another input is already staged as {basename}")));
    }
    let Some(digests) = download(store, &uri.key, &local)
        .await
        .map_err(|err| place.input_error(err))?
    else {
        return Err(place.missing(format!("\"{}\" does not exist", file.location)));
    };
    for secondary in &how.constraints.secondary_files {
        let name = secondary.apply(basename);
        let sec_key = match uri.key.rsplit_once('/') {
            Some((dir, _)) => format!("{dir}/{name}"),
            None => name.clone(),
        };
        let found = download(store, &sec_key, &place.dir.join(&name))
            .await
            .map_err(|err| place.input_error(err))?
            .is_some();
        if !found && secondary.required {
            return Err(place.missing(format!(
                "secondary file \"{}\" (pattern \"{}\") does not exist",
                uri.uri_of(&sec_key),
                secondary.pattern
            )));
        }
    }
    let mut staged = file.at(local);
    // Hashed on the way down: checked against a given checksum here,
    // never read again.
    if let Some(given) = &file.checksum
        && !digests.matches(given)
    {
        return Err(place.missing(format!(
            "\"{}\" does not match its checksum: given {given}, found {}",
            file.location,
            digests.cwl()
        )));
    }
    staged.checksum = Some(digests.cwl());
    staged.sha256 = Some(digests.sha256);
    Ok(staged)
}

async fn stage_directory(
    store: &Store,
    dir: &DirectoryObject,
    uri: &StoreUri,
    place: &Place,
) -> Result<DirectoryObject, Error> {
    let basename = uri.basename();
    if basename.is_empty() {
        return Err(place.missing(format!("\"{}\" names no object", dir.location)));
    }
    let local = place.dir.join(basename);
    let prefix = format!("{}/", uri.key);
    let keys = store
        .list(&uri.key)
        .await
        .map_err(|err| place.input_error(err))?;
    if keys.is_empty() {
        return Err(place.missing(format!("\"{}\" does not exist", dir.location)));
    }
    let mut targets = Vec::with_capacity(keys.len());
    for key in &keys {
        let Some(relative) = key.strip_prefix(&prefix) else {
            continue;
        };
        let target = safe_join(&local, relative).ok_or_else(|| {
            place.missing(format!(
                "object \"{key}\" would land outside the work directory"
            ))
        })?;
        targets.push((key.clone(), target));
    }
    // The objects of a folder come down several at once (within the
    // process's slots); the first failure ends the staging.
    let fetches: Vec<_> = targets
        .into_iter()
        .map(|(key, target)| fetch_listed(store, key, target, place))
        .collect();
    futures::stream::iter(fetches)
        .buffer_unordered(OBJECTS_AT_ONCE)
        .try_collect::<Vec<()>>()
        .await?;
    if !local.exists() {
        std::fs::create_dir_all(&local)
            .map_err(|err| Error::io(format!("cannot create {}", local.display()), err))?;
    }
    Ok(dir.at(local))
}

/// Downloads one object of a listed folder.
async fn fetch_listed(
    store: &Store,
    key: String,
    target: PathBuf,
    place: &Place,
) -> Result<(), Error> {
    {
        let found = download(store, &key, &target)
            .await
            .map_err(|err| place.input_error(err))?
            .is_some();
        // Listed a moment ago: gone now is an error, never a skip.
        if found {
            Ok(())
        } else {
            Err(place.missing(format!(
                "\"{}\" vanished while the folder was staged",
                store.uri.uri_of(&key)
            )))
        }
    }
}

/// The secondary files of a local File input that exist beside it.
fn siblings(how: How, path: &Path) -> Vec<PathBuf> {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return Vec::new();
    };
    how.constraints
        .secondary_files
        .iter()
        .map(|secondary| path.with_file_name(secondary.apply(name)))
        .filter(|candidate| candidate.exists())
        .collect()
}

/// Places a local file or folder (and `siblings` beside it) in `dir`, by
/// hard link or copy, off the runtime's thread; returns its new path.
async fn place_local(
    source: &Path,
    dir: &Path,
    mode: Stage,
    siblings: &[PathBuf],
) -> std::io::Result<PathBuf> {
    let name = source
        .file_name()
        .ok_or_else(|| std::io::Error::other("the path names no file"))?;
    let target = dir.join(name);
    let mut jobs = vec![(source.to_path_buf(), target.clone())];
    if target.exists() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            format!(
                "another input is already staged as {}",
                name.to_string_lossy()
            ),
        ));
    }
    for sibling in siblings {
        if let Some(name) = sibling.file_name() {
            jobs.push((sibling.clone(), dir.join(name)));
        }
    }
    let dir = dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dir)?;
        for (from, to) in jobs {
            place_tree(&from, &to, mode)?;
        }
        Ok::<(), std::io::Error>(())
    })
    .await
    .map_err(std::io::Error::other)??;
    Ok(target)
}

/// A file by hard link (else copy) or copy; a folder recursively; a link
/// inside a folder as the same link.
fn place_tree(from: &Path, to: &Path, mode: Stage) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(from)?;
    if meta.is_dir() {
        std::fs::create_dir_all(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            place_tree(&entry.path(), &to.join(entry.file_name()), mode)?;
        }
        return Ok(());
    }
    if meta.file_type().is_symlink() {
        return std::os::unix::fs::symlink(std::fs::read_link(from)?, to);
    }
    if mode == Stage::Link && std::fs::hard_link(from, to).is_ok() {
        return Ok(());
    }
    std::fs::copy(from, to).map(|_| ())
}

/// `base/relative`, refusing keys that would climb out of `base` or name
/// nothing (empty, `.` or `..` segments).
fn safe_join(base: &Path, relative: &str) -> Option<PathBuf> {
    let mut path = base.to_path_buf();
    for part in relative.split('/') {
        match part {
            "" | "." | ".." => return None,
            part => path.push(part),
        }
    }
    Some(path)
}

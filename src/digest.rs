//! Checksums of file contents, computed in one pass as bytes stream past:
//! SHA-1 (CWL's `sha1$…`) and SHA-256 (what S3 and in-toto use).
//!
//! Ground floor: `objects` hashes what it uploads and downloads, `collect`
//! and `runtime` what they read.

use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};

use sha1::Digest;

/// Checksums of some bytes, as lowercase hex.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Digests {
    pub sha1: String,
    pub sha256: String,
}

impl Digests {
    /// CWL's `checksum` field.
    pub fn cwl(&self) -> String {
        format!("sha1${}", self.sha1)
    }

    /// Whether a CWL checksum (`sha1$…` or `sha256$…`) names these bytes.
    pub fn matches(&self, checksum: &str) -> bool {
        match checksum.split_once('$') {
            Some(("sha1", hex)) => hex.eq_ignore_ascii_case(&self.sha1),
            Some(("sha256", hex)) => hex.eq_ignore_ascii_case(&self.sha256),
            _ => false,
        }
    }
}

/// Whether `text` is a checksum `matches` can check.
pub fn valid_checksum(text: &str) -> bool {
    let hex = |h: &str, len: usize| h.len() == len && h.chars().all(|c| c.is_ascii_hexdigit());
    match text.split_once('$') {
        Some(("sha1", h)) => hex(h, 40),
        Some(("sha256", h)) => hex(h, 64),
        _ => false,
    }
}

/// Hashes bytes as they stream past.
#[derive(Default)]
pub struct Hasher {
    sha1: sha1::Sha1,
    sha256: sha2::Sha256,
}

impl Hasher {
    pub fn update(&mut self, bytes: &[u8]) {
        self.sha1.update(bytes);
        self.sha256.update(bytes);
    }

    pub fn finish(self) -> Digests {
        Digests {
            sha1: hex::encode(self.sha1.finalize()),
            sha256: hex::encode(self.sha256.finalize()),
        }
    }
}

/// The digests of bytes in memory.
pub fn of(bytes: &[u8]) -> Digests {
    let mut hasher = Hasher::default();
    hasher.update(bytes);
    hasher.finish()
}

/// Hashes a reader to its end; `Ok(None)` when `stop` was set on the way.
pub fn read(mut reader: impl Read, stop: Option<&AtomicBool>) -> std::io::Result<Option<Digests>> {
    let mut hasher = Hasher::default();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        if stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
            return Ok(None);
        }
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        hasher.update(&buf[..n]);
    }
    Ok(Some(hasher.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_digests_and_checksum_forms() {
        let d = read(&b"abc"[..], None).unwrap().unwrap();
        assert_eq!(d.sha1, "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(
            d.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(d.matches("sha1$A9993E364706816ABA3E25717850C26C9CD0D89D"));
        assert!(d.matches(&format!("sha256${}", d.sha256)));
        assert!(!d.matches("md5$900150983cd24fb0d6963f7d28e17f72"));
        assert!(valid_checksum(&d.cwl()));
        assert!(!valid_checksum("sha1$abc"));
        assert!(!valid_checksum("a9993e364706816aba3e25717850c26c9cd0d89d"));
    }
}

//! Secret values kept out of everything the launcher writes: every exact
//! occurrence becomes `***`, in text, in the strings of a JSON document (never
//! its keys), and in byte streams of any size, where an occurrence may be
//! split across writes.
//!
//! Ground floor: knows values, not specs; `inputs` says which values are
//! secret.

use std::io::{self, Write};
use std::sync::Arc;

use aho_corasick::{AhoCorasick, MatchKind};

/// The secrets of this process's run, for its messages.
static PROCESS: std::sync::OnceLock<Secrets> = std::sync::OnceLock::new();

/// Masks these secrets in every launcher message from now on (once per
/// process; later calls change nothing).
pub fn mask_messages(secrets: &Secrets) {
    if !secrets.is_empty() {
        let _ = PROCESS.set(secrets.clone());
    }
}

/// A launcher message with the process's secrets masked.
pub fn message(text: &str) -> String {
    match PROCESS.get() {
        Some(secrets) => secrets.text(text),
        None => text.to_string(),
    }
}

/// What a secret is replaced with.
pub const MASK: &str = "***";

/// The secret values of one run; cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Secrets(Option<Arc<Matcher>>);

#[derive(Debug)]
struct Matcher {
    /// None: the secrets could not be indexed (too many, too large), and
    /// everything is masked rather than something shown.
    automaton: Option<AhoCorasick>,
    /// The longest secret, in bytes.
    longest: usize,
}

impl Secrets {
    /// The secrets among `values`; empty values are no secret.
    pub fn new(values: impl IntoIterator<Item = String>) -> Self {
        let mut values: Vec<String> = values.into_iter().filter(|v| !v.is_empty()).collect();
        values.sort();
        values.dedup();
        let Some(longest) = values.iter().map(String::len).max() else {
            return Self(None);
        };
        // Leftmost-longest: of two secrets starting at one place, the
        // longer is masked whole.
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&values)
            .ok();
        Self(Some(Arc::new(Matcher { automaton, longest })))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// `text` with every secret masked.
    pub fn text(&self, text: &str) -> String {
        match self.0.as_deref() {
            None => text.to_string(),
            Some(Matcher {
                automaton: None, ..
            }) => MASK.to_string(),
            Some(Matcher {
                automaton: Some(a), ..
            }) => a.replace_all(text, &vec![MASK; a.patterns_len()]),
        }
    }

    /// `bytes` with every secret masked.
    pub fn bytes(&self, bytes: &[u8]) -> Vec<u8> {
        match self.0.as_deref() {
            None => bytes.to_vec(),
            Some(Matcher {
                automaton: None, ..
            }) => MASK.as_bytes().to_vec(),
            Some(Matcher {
                automaton: Some(a), ..
            }) => a.replace_all_bytes(bytes, &vec![MASK.as_bytes(); a.patterns_len()]),
        }
    }

    /// Masks the secrets in every string of a JSON document; keys stay.
    pub fn json(&self, value: &mut serde_json::Value) {
        if self.is_empty() {
            return;
        }
        match value {
            serde_json::Value::String(text) => *text = self.text(text),
            serde_json::Value::Array(items) => items.iter_mut().for_each(|v| self.json(v)),
            serde_json::Value::Object(map) => map.values_mut().for_each(|v| self.json(v)),
            _ => {}
        }
    }

    /// A writer that masks what passes through it; `finish` writes what it
    /// held back (the start of what might have been a secret).
    pub fn writer<W: Write>(&self, inner: W) -> Masking<W> {
        Masking {
            inner,
            secrets: self.clone(),
            pending: Vec::new(),
        }
    }
}

/// A writer that masks secrets, however the bytes are split into writes.
pub struct Masking<W: Write> {
    inner: W,
    secrets: Secrets,
    /// Bytes not yet written: they may be the start of a secret.
    pending: Vec<u8>,
}

impl<W: Write> Masking<W> {
    /// Writes out what can be written; at the end, everything.
    fn drain(&mut self, end: bool) -> io::Result<()> {
        let Some(m) = self.secrets.0.clone() else {
            self.inner.write_all(&self.pending)?;
            self.pending.clear();
            return Ok(());
        };
        let Some(automaton) = &m.automaton else {
            self.pending.clear();
            return Ok(());
        };
        let mut start = 0;
        while let Some(found) = automaton.find(&self.pending[start..]) {
            let (from, to) = (start + found.start(), start + found.end());
            // A longer secret may still be completed by what comes next.
            if !end && from + m.longest > self.pending.len() {
                break;
            }
            self.inner.write_all(&self.pending[start..from])?;
            self.inner.write_all(MASK.as_bytes())?;
            start = to;
        }
        // Keep what could be the start of a secret: up to `longest - 1`
        // bytes, and never less than a match that was held back.
        let keep_from = if end {
            self.pending.len()
        } else {
            let tail = self.pending.len().saturating_sub(m.longest - 1);
            let held = automaton
                .find(&self.pending[start..])
                .map_or(usize::MAX, |f| start + f.start());
            tail.max(start).min(held)
        };
        self.inner.write_all(&self.pending[start..keep_from])?;
        self.pending.drain(..keep_from);
        Ok(())
    }

    /// Writes what was held back, masked, and returns the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.drain(true)?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for Masking<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.secrets.is_empty() {
            return self.inner.write(buf);
        }
        self.pending.extend_from_slice(buf);
        self.drain(false)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn secrets(values: &[&str]) -> Secrets {
        Secrets::new(values.iter().map(|v| v.to_string()))
    }

    #[test]
    fn text_and_json_strings_are_masked_keys_are_not() {
        let s = secrets(&["hunter2", "", "ok"]);
        assert_eq!(s.text("pw=hunter2; again hunter2"), "pw=***; again ***");
        let mut doc = serde_json::json!({"ok": true, "cmd": "x ok y", "list": ["hunter2"]});
        s.json(&mut doc);
        assert_eq!(
            doc,
            serde_json::json!({"ok": true, "cmd": "x *** y", "list": ["***"]})
        );
        assert!(secrets(&[""]).is_empty());
    }

    #[test]
    fn the_longer_of_two_overlapping_secrets_is_masked_whole() {
        let s = secrets(&["abc", "abcdef"]);
        assert_eq!(s.text("xabcdefx abcx"), "x***x ***x");
    }

    fn through_writer(s: &Secrets, chunks: &[&[u8]]) -> Vec<u8> {
        let mut w = s.writer(Vec::new());
        for chunk in chunks {
            w.write_all(chunk).unwrap();
        }
        w.finish().unwrap()
    }

    #[test]
    fn a_secret_split_across_writes_is_masked() {
        let s = secrets(&["abc", "abcdef"]);
        assert_eq!(through_writer(&s, &[b"xxab", b"cd", b"efyy"]), b"xx***yy");
        assert_eq!(through_writer(&s, &[b"xxab", b"cz"]), b"xx***z");
        assert_eq!(through_writer(&s, &[b"ab"]), b"ab");
    }

    proptest! {
        /// However the stream is cut, the writer masks as `text` does.
        #[test]
        fn the_writer_agrees_with_text(
            text in "[abc ]{0,60}",
            secret_list in proptest::collection::vec("[abc]{1,4}", 1..4),
            cuts in proptest::collection::vec(0usize..60, 0..6),
        ) {
            let s = Secrets::new(secret_list);
            let bytes = text.as_bytes();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
            cuts.sort();
            let mut chunks = Vec::new();
            let mut at = 0;
            for cut in cuts {
                chunks.push(&bytes[at..cut]);
                at = cut;
            }
            chunks.push(&bytes[at..]);
            let streamed = through_writer(&s, &chunks);
            prop_assert_eq!(String::from_utf8(streamed).unwrap(), s.text(&text));
        }
    }
}

//! Signed statements: Ed25519 keys in PEM (as `openssl genpkey -algorithm
//! ed25519` and `openssl pkey -pubout` write them), and DSSE envelopes
//! around in-toto statements, signed and verified.
//!
//! Ground floor: knows bytes and keys; `store` decides what a statement
//! says, `verify` what a verified one means.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::signature::{self, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};

/// The payload type of an in-toto statement in a DSSE envelope.
pub const IN_TOTO: &str = "application/vnd.in-toto+json";

/// The DER prefix of an Ed25519 SubjectPublicKeyInfo; the key follows.
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// A private key, loaded.
pub struct SigningKey {
    pair: Ed25519KeyPair,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey({})", self.key_id())
    }
}

/// A DSSE envelope (https://github.com/secure-systems-lab/dsse).
#[derive(Debug, Deserialize, Serialize)]
pub struct Envelope {
    #[serde(rename = "payloadType")]
    pub payload_type: String,
    /// Base64 of the payload.
    pub payload: String,
    pub signatures: Vec<Signature>,
}

#[derive(Debug, Deserialize, Serialize)]
pub struct Signature {
    #[serde(default)]
    pub keyid: String,
    /// Base64 of the signature.
    pub sig: String,
}

/// The bytes of the one PEM block labelled `label`.
fn pem(text: &str, label: &str) -> Result<Vec<u8>, String> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text
        .find(&begin)
        .ok_or_else(|| format!("no \"{begin}\" block"))?;
    let body = &text[start + begin.len()..];
    let stop = body
        .find(&end)
        .ok_or_else(|| format!("no \"{end}\" line"))?;
    let b64: String = body[..stop].split_whitespace().collect();
    STANDARD
        .decode(b64)
        .map_err(|err| format!("the {label} block is not base64: {err}"))
}

/// The id of a public key: hex SHA-256 of its 32 raw bytes.
fn key_id_of(public: &[u8]) -> String {
    crate::digest::of(public).sha256
}

/// DSSE's pre-authentication encoding: what is actually signed.
fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

impl SigningKey {
    /// An Ed25519 private key from PKCS#8 PEM (`BEGIN PRIVATE KEY`).
    pub fn from_pem(text: &str) -> Result<Self, String> {
        if text.contains("-----BEGIN PUBLIC KEY-----") {
            return Err("this is a public key; signing needs the private key (openssl genpkey -algorithm ed25519)".into());
        }
        let der = pem(text, "PRIVATE KEY").map_err(|_| {
            "not an Ed25519 private key in PKCS#8 PEM (-----BEGIN PRIVATE KEY-----, as openssl genpkey -algorithm ed25519 writes)".to_string()
        })?;
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der)
            .map_err(|err| format!("not an Ed25519 private key in PKCS#8 ({err})"))?;
        Ok(Self { pair })
    }

    pub fn key_id(&self) -> String {
        key_id_of(self.pair.public_key().as_ref())
    }

    /// An envelope of `payload`, signed.
    pub fn envelope(&self, payload_type: &str, payload: &[u8]) -> Envelope {
        let sig = self.pair.sign(&pae(payload_type, payload));
        Envelope {
            payload_type: payload_type.to_string(),
            payload: STANDARD.encode(payload),
            signatures: vec![Signature {
                keyid: self.key_id(),
                sig: STANDARD.encode(sig.as_ref()),
            }],
        }
    }
}

/// A public key, to verify with.
pub struct PublicKey(Vec<u8>);

impl PublicKey {
    /// An Ed25519 public key from SubjectPublicKeyInfo PEM (`BEGIN PUBLIC
    /// KEY`).
    pub fn from_pem(text: &str) -> Result<Self, String> {
        let der = pem(text, "PUBLIC KEY")?;
        match der.strip_prefix(&SPKI_PREFIX[..]) {
            Some(raw) if raw.len() == 32 => Ok(Self(raw.to_vec())),
            _ => Err("not an Ed25519 public key".into()),
        }
    }

    pub fn key_id(&self) -> String {
        key_id_of(&self.0)
    }
}

impl Envelope {
    /// The payload, once some signature on it verifies with `key`.
    pub fn open(&self, key: &PublicKey) -> Result<Vec<u8>, String> {
        let payload = STANDARD
            .decode(&self.payload)
            .map_err(|err| format!("the payload is not base64: {err}"))?;
        let message = pae(&self.payload_type, &payload);
        let verifier = UnparsedPublicKey::new(&signature::ED25519, &key.0);
        let good = self.signatures.iter().any(|s| {
            STANDARD
                .decode(&s.sig)
                .is_ok_and(|sig| verifier.verify(&message, &sig).is_ok())
        });
        if good {
            Ok(payload)
        } else {
            Err(format!(
                "no signature verifies with the key {} (signed by {})",
                key.key_id(),
                self.signatures
                    .iter()
                    .map(|s| s.keyid.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        }
    }

    /// The payload, unverified.
    pub fn payload(&self) -> Result<Vec<u8>, String> {
        STANDARD
            .decode(&self.payload)
            .map_err(|err| format!("the payload is not base64: {err}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// From `openssl genpkey -algorithm ed25519` and `openssl pkey -pubout`.
    const PRIVATE: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIHVv0YTuOXjL/Ev+DUtjYSLiWq7DvkON3xcfmxREZZza\n-----END PRIVATE KEY-----\n";
    const PUBLIC: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAYtpbBj2INsQQHMRHlAk/cjsPlwj67NqxfNk4za2OYzY=\n-----END PUBLIC KEY-----\n";

    #[test]
    fn an_envelope_opens_with_its_key_only() {
        let key = SigningKey::from_pem(PRIVATE).unwrap();
        let public = PublicKey::from_pem(PUBLIC).unwrap();
        assert_eq!(public.0, key.pair.public_key().as_ref());
        let envelope = key.envelope(IN_TOTO, b"{\"a\": 1}");
        assert_eq!(envelope.open(&public).unwrap(), b"{\"a\": 1}");
        assert_eq!(envelope.signatures[0].keyid, public.key_id());

        let mut tampered = key.envelope(IN_TOTO, b"{\"a\": 1}");
        tampered.payload = STANDARD.encode(b"{\"a\": 2}");
        assert!(tampered.open(&public).is_err());
        let other = PublicKey(vec![7; 32]);
        assert!(envelope.open(&other).is_err());
    }

    #[test]
    fn pae_is_dsse_v1() {
        assert_eq!(pae("t", b"xy"), b"DSSEv1 1 t 2 xy");
    }

    #[test]
    fn keys_that_are_not_ed25519_pem_are_refused() {
        assert!(SigningKey::from_pem("nothing").is_err());
        assert!(
            PublicKey::from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----")
                .is_err()
        );
    }
}

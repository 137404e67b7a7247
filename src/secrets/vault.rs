//! Encryption of secret values at rest: AES-256-GCM under a master key from
//! `NOCRON_MASTER_KEY`, with older keys (`NOCRON_OLD_MASTER_KEYS`) kept for decryption so
//! keys can rotate.
//!
//! A sealed value is self-describing: `0x01 ‖ len(key id) ‖ key id ‖ nonce(12) ‖ ciphertext+tag`.
//! Every seal draws a fresh random nonce. The caller passes associated data (the secret's
//! owner and id) so a ciphertext copied onto another row does not decrypt.

use std::{fmt, io::Write, os::unix::fs::OpenOptionsExt, path::Path};

use aes_gcm::{
    Aes256Gcm,
    aead::{Aead, KeyInit, Payload},
};
use anyhow::Context;
use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use rand::Rng;
use sha2::{Digest, Sha256};

/// The format version byte at the start of every sealed value.
const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 12;
const KEY_LEN: usize = 32;
/// Longest key id accepted (it is stored in every sealed value).
pub const MAX_KEY_ID_LEN: usize = 32;

/// One AES-256 master key and its id. `Debug` never shows the key.
#[derive(Clone)]
pub struct MasterKey {
    id: String,
    key: [u8; KEY_LEN],
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .field("key", &"[REDACTED]")
            .finish()
    }
}

impl MasterKey {
    /// Parses `base64` (32 bytes; the id is derived from the key) or `id:base64`
    /// (the id is 1-32 characters of `A-Z a-z 0-9 _ -`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let (id, encoded) = match text.split_once(':') {
            Some((id, encoded)) => (Some(id), encoded),
            None => (None, text),
        };
        let bytes = BASE64
            .decode(encoded.trim())
            .map_err(|_| "the key is not valid base64".to_owned())?;
        let key: [u8; KEY_LEN] = bytes.try_into().map_err(|bytes: Vec<u8>| {
            format!(
                "the key must be 32 bytes (base64 of 32 random bytes), got {}",
                bytes.len()
            )
        })?;
        match id {
            Some(id) => {
                validate_key_id(id)?;
                Ok(MasterKey {
                    id: id.to_owned(),
                    key,
                })
            }
            None => Ok(MasterKey::from_bytes(key)),
        }
    }

    /// A key with the id derived from its bytes.
    pub fn from_bytes(key: [u8; KEY_LEN]) -> Self {
        MasterKey {
            id: derive_key_id(&key),
            key,
        }
    }

    /// A fresh random key (development, tests).
    pub fn generate() -> Self {
        let mut key = [0u8; KEY_LEN];
        rand::rng().fill(&mut key[..]);
        MasterKey::from_bytes(key)
    }

    /// The key id stored with every value sealed under this key.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The `id:base64` form accepted by [`MasterKey::parse`].
    pub fn to_config_string(&self) -> String {
        format!("{}:{}", self.id, BASE64.encode(self.key))
    }
}

/// A key id derived from the key: the first 8 bytes of a domain-separated SHA-256, in hex.
/// Deterministic, so the same key configured without an id keeps its id across restarts.
fn derive_key_id(key: &[u8; KEY_LEN]) -> String {
    let digest = Sha256::new()
        .chain_update(b"nocron master key id v1\0")
        .chain_update(key)
        .finalize();
    hex::encode(&digest[..8])
}

fn validate_key_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= MAX_KEY_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "the key id {id:?} must be 1-{MAX_KEY_ID_LEN} characters of A-Z, a-z, 0-9, _ or -"
        ))
    }
}

/// Why a sealed value could not be opened.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum VaultError {
    /// The bytes are not a sealed value of a known format.
    #[error("the sealed value is malformed")]
    Malformed,
    /// The value was sealed under a key that is not configured.
    #[error(
        "the value was sealed under key {0:?}, which is not configured (NOCRON_OLD_MASTER_KEYS)"
    )]
    UnknownKey(String),
    /// Authentication failed: wrong key, altered bytes or other associated data.
    #[error("the sealed value does not authenticate (altered, or sealed for another record)")]
    Tampered,
    /// The plaintext is beyond what AES-GCM can encrypt under one nonce (64 GiB).
    #[error("the value is too large to encrypt")]
    TooLarge,
}

/// A sealed value and the id of the key that sealed it.
#[derive(Debug, Clone)]
pub struct Sealed {
    /// The key id (also inside `bytes`), stored in its own column so rotation finds old rows.
    pub key_id: String,
    /// The self-describing sealed bytes.
    pub bytes: Vec<u8>,
}

/// The current master key and the older ones still accepted for decryption.
#[derive(Clone)]
pub struct Vault {
    current: MasterKey,
    previous: Vec<MasterKey>,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let previous: Vec<&str> = self.previous.iter().map(MasterKey::id).collect();
        f.debug_struct("Vault")
            .field("current", &self.current.id)
            .field("previous", &previous)
            .finish()
    }
}

impl Vault {
    /// A vault sealing under `current` and opening values sealed under it or any of `previous`.
    pub fn new(current: MasterKey, previous: Vec<MasterKey>) -> Self {
        let previous = previous
            .into_iter()
            .filter(|key| key.id != current.id)
            .collect();
        Vault { current, previous }
    }

    /// The id of the key new values are sealed under.
    pub fn current_key_id(&self) -> &str {
        &self.current.id
    }

    /// Encrypts `plaintext` under the current key with a fresh nonce, bound to `associated`.
    pub fn seal(&self, plaintext: &[u8], associated: &[u8]) -> Result<Sealed, VaultError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill(&mut nonce[..]);
        let cipher = Aes256Gcm::new(&self.current.key.into());
        let ciphertext = cipher
            .encrypt(
                &nonce.into(),
                Payload {
                    msg: plaintext,
                    aad: associated,
                },
            )
            .map_err(|_| VaultError::TooLarge)?;
        let id = self.current.id.as_bytes();
        let mut bytes = Vec::with_capacity(2 + id.len() + NONCE_LEN + ciphertext.len());
        bytes.push(FORMAT_V1);
        // Key ids are at most MAX_KEY_ID_LEN (32) bytes, so the length fits in one byte.
        bytes.push(id.len() as u8);
        bytes.extend_from_slice(id);
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&ciphertext);
        Ok(Sealed {
            key_id: self.current.id.clone(),
            bytes,
        })
    }

    /// Decrypts a sealed value with whichever configured key sealed it.
    pub fn open(&self, sealed: &[u8], associated: &[u8]) -> Result<Vec<u8>, VaultError> {
        let SealedParts {
            key_id,
            nonce,
            ciphertext,
        } = split_sealed(sealed)?;
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|key| key.id.as_bytes() == key_id)
            .ok_or_else(|| VaultError::UnknownKey(String::from_utf8_lossy(key_id).into_owned()))?;
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| VaultError::Malformed)?;
        Aes256Gcm::new(&key.key.into())
            .decrypt(
                &nonce.into(),
                Payload {
                    msg: ciphertext,
                    aad: associated,
                },
            )
            .map_err(|_| VaultError::Tampered)
    }

    /// The key id inside a sealed value, without decrypting it.
    pub fn key_id_of(sealed: &[u8]) -> Result<String, VaultError> {
        let parts = split_sealed(sealed)?;
        Ok(String::from_utf8_lossy(parts.key_id).into_owned())
    }
}

/// The parts of a sealed value: key id, nonce, ciphertext with tag.
struct SealedParts<'a> {
    key_id: &'a [u8],
    nonce: &'a [u8],
    ciphertext: &'a [u8],
}

fn split_sealed(sealed: &[u8]) -> Result<SealedParts<'_>, VaultError> {
    let [version, id_len, rest @ ..] = sealed else {
        return Err(VaultError::Malformed);
    };
    let id_len = usize::from(*id_len);
    // A GCM tag is 16 bytes; anything shorter cannot be a sealed value.
    if *version != FORMAT_V1 || id_len == 0 || rest.len() < id_len + NONCE_LEN + 16 {
        return Err(VaultError::Malformed);
    }
    let (key_id, rest) = rest.split_at(id_len);
    let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
    Ok(SealedParts {
        key_id,
        nonce,
        ciphertext,
    })
}

/// The master key to use: `NOCRON_MASTER_KEY` when configured; otherwise (never in
/// production, which configuration refuses) a key generated once and kept in
/// `DATA_DIR/master_key` (mode 0600), so secrets survive restarts.
pub fn resolve_master_key(
    configured: Option<&MasterKey>,
    data_dir: &Path,
) -> anyhow::Result<MasterKey> {
    if let Some(key) = configured {
        return Ok(key.clone());
    }
    let path = data_dir.join("master_key");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        return MasterKey::parse(&existing)
            .map_err(|message| anyhow::anyhow!("{}: {message}", path.display()));
    }
    tracing::warn!(
        path = %path.display(),
        "NOCRON_MASTER_KEY is not set: using a generated development key (set NOCRON_MASTER_KEY in production)"
    );
    let key = MasterKey::generate();
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create DATA_DIR {}", data_dir.display()))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(key.to_config_string().as_bytes())?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> MasterKey {
        MasterKey::from_bytes([byte; KEY_LEN])
    }

    #[test]
    fn sealed_values_open_with_the_same_key_and_associated_data() {
        let vault = Vault::new(key(1), vec![]);
        let sealed = vault.seal(b"hunter2", b"owner/secret").expect("seal");
        assert_eq!(sealed.key_id, vault.current_key_id());
        assert!(!sealed.bytes.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(
            vault.open(&sealed.bytes, b"owner/secret").expect("open"),
            b"hunter2"
        );
    }

    #[test]
    fn every_seal_uses_a_fresh_nonce() {
        let vault = Vault::new(key(1), vec![]);
        let a = vault.seal(b"same", b"").expect("seal");
        let b = vault.seal(b"same", b"").expect("seal");
        assert_ne!(a.bytes, b.bytes);
    }

    #[test]
    fn other_associated_data_or_altered_bytes_do_not_open() {
        let vault = Vault::new(key(1), vec![]);
        let sealed = vault.seal(b"value", b"row-a").expect("seal");
        assert_eq!(
            vault.open(&sealed.bytes, b"row-b"),
            Err(VaultError::Tampered)
        );
        let mut altered = sealed.bytes.clone();
        let last = altered.len() - 1;
        altered[last] ^= 1;
        assert_eq!(vault.open(&altered, b"row-a"), Err(VaultError::Tampered));
        assert_eq!(vault.open(&[1, 2, 3], b""), Err(VaultError::Malformed));
        assert_eq!(vault.open(&[], b""), Err(VaultError::Malformed));
    }

    #[test]
    fn old_keys_still_open_and_unknown_keys_are_named() {
        let old = Vault::new(key(1), vec![]);
        let sealed = old.seal(b"value", b"").expect("seal");
        let rotated = Vault::new(key(2), vec![key(1)]);
        assert_eq!(rotated.open(&sealed.bytes, b"").expect("open"), b"value");
        let without_old = Vault::new(key(2), vec![]);
        assert_eq!(
            without_old.open(&sealed.bytes, b""),
            Err(VaultError::UnknownKey(key(1).id().to_owned()))
        );
        assert_eq!(
            Vault::key_id_of(&sealed.bytes).expect("id"),
            key(1).id().to_owned()
        );
    }

    #[test]
    fn a_key_with_the_right_id_but_wrong_bytes_does_not_open() {
        let sealed = Vault::new(
            MasterKey::parse(&format!("k1:{}", BASE64.encode([1u8; 32]))).expect("parse"),
            vec![],
        )
        .seal(b"value", b"")
        .expect("seal");
        let impostor =
            MasterKey::parse(&format!("k1:{}", BASE64.encode([9u8; 32]))).expect("parse");
        assert_eq!(
            Vault::new(impostor, vec![]).open(&sealed.bytes, b""),
            Err(VaultError::Tampered)
        );
    }

    #[test]
    fn keys_parse_with_and_without_an_id() {
        let encoded = BASE64.encode([7u8; 32]);
        let derived = MasterKey::parse(&encoded).expect("plain");
        assert_eq!(derived.id().len(), 16);
        assert_eq!(
            derived.id(),
            MasterKey::parse(&encoded).expect("again").id()
        );
        assert_ne!(derived.id(), key(8).id());
        let named = MasterKey::parse(&format!("2026-q4:{encoded}")).expect("named");
        assert_eq!(named.id(), "2026-q4");
        let round = MasterKey::parse(&named.to_config_string()).expect("round trip");
        assert_eq!(round.id(), "2026-q4");
        assert_eq!(round.key, named.key);
    }

    #[test]
    fn bad_keys_are_refused_with_a_reason() {
        assert!(
            MasterKey::parse("not base64!")
                .unwrap_err()
                .contains("base64")
        );
        assert!(
            MasterKey::parse(&BASE64.encode([1u8; 16]))
                .unwrap_err()
                .contains("32 bytes")
        );
        let encoded = BASE64.encode([1u8; 32]);
        for bad_id in ["", "has space", "x/y", &"a".repeat(33)] {
            assert!(
                MasterKey::parse(&format!("{bad_id}:{encoded}"))
                    .unwrap_err()
                    .contains("key id"),
                "{bad_id:?}"
            );
        }
    }

    #[test]
    fn debug_output_never_shows_key_material() {
        let key = key(0xAB);
        let vault = Vault::new(key.clone(), vec![]);
        let text = format!("{key:?} {vault:?}");
        assert!(!text.contains(&BASE64.encode([0xABu8; 32])));
        assert!(!text.contains("171"));
        assert!(text.contains(key.id()));
    }

    #[test]
    fn a_development_key_is_generated_once_and_reused() {
        let dir = std::env::temp_dir().join(format!("nocron-vault-{}", uuid::Uuid::new_v4()));
        let first = resolve_master_key(None, &dir).expect("generate");
        let second = resolve_master_key(None, &dir).expect("reuse");
        assert_eq!(first.id(), second.id());
        assert_eq!(first.key, second.key);
        let mode = std::fs::metadata(dir.join("master_key"))
            .expect("file")
            .permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
        let configured = key(3);
        assert_eq!(
            resolve_master_key(Some(&configured), &dir)
                .expect("configured")
                .id(),
            configured.id()
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}

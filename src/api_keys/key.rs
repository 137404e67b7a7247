//! The API key format: `nck_` + 32 random base62 characters (190 bits) + a 6-character
//! checksum. The `nck_` marker and the checksum let secret scanners recognise a leaked key
//! offline; the first 12 random characters (with the marker) are the public lookup prefix.

use rand::{Rng, distr::Alphanumeric};
use sha2::{Digest, Sha256};

/// What every key starts with.
pub const MARKER: &str = "nck_";
const SECRET_LEN: usize = 32;
const LOOKUP_LEN: usize = 12;
const CHECKSUM_LEN: usize = 6;
/// Length of a whole key.
pub const KEY_LEN: usize = MARKER.len() + SECRET_LEN + CHECKSUM_LEN;
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A freshly generated key.
#[derive(Debug)]
pub struct NewKey {
    /// The whole key, shown to its owner once.
    pub key: String,
    /// Its public lookup prefix (`nck_` + 12 characters).
    pub prefix: String,
}

/// Generates a key from the thread CSPRNG.
pub fn generate() -> NewKey {
    let secret: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(SECRET_LEN)
        .map(char::from)
        .collect();
    let key = format!("{MARKER}{secret}{}", checksum(&secret));
    let prefix = key[..MARKER.len() + LOOKUP_LEN].to_owned();
    NewKey { key, prefix }
}

/// Whether a credential is meant as an API key (rather than a JWT).
pub fn looks_like_key(credential: &str) -> bool {
    credential.starts_with(MARKER)
}

/// The lookup prefix of a well-formed key with a valid checksum.
pub fn parse(key: &str) -> Option<&str> {
    if key.len() != KEY_LEN || !key.starts_with(MARKER) {
        return None;
    }
    let rest = &key[MARKER.len()..];
    if !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let (secret, sum) = rest.split_at(SECRET_LEN);
    (checksum(secret) == sum).then(|| &key[..MARKER.len() + LOOKUP_LEN])
}

/// The first 32 bits of SHA-256 over the marked secret, in 6 base62 characters.
fn checksum(secret: &str) -> String {
    let digest = Sha256::digest(format!("{MARKER}{secret}").as_bytes());
    let mut value = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) as u64;
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(value % 62) as usize];
        value /= 62;
    }
    out.iter().map(|&b| char::from(b)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_to_their_prefix() {
        let new = generate();
        assert_eq!(new.key.len(), KEY_LEN);
        assert!(new.key.starts_with("nck_"));
        assert_eq!(parse(&new.key), Some(new.prefix.as_str()));
        assert_ne!(generate().key, new.key);
    }

    #[test]
    fn a_changed_character_breaks_the_checksum() {
        let key = generate().key;
        let mut bytes = key.into_bytes();
        bytes[10] = if bytes[10] == b'a' { b'b' } else { b'a' };
        let tampered = String::from_utf8(bytes).expect("ascii");
        assert_eq!(parse(&tampered), None);
        assert_eq!(parse("nck_short"), None);
        assert_eq!(parse("eyJhbGciOiJIUzI1NiJ9.e30.x"), None);
    }
}

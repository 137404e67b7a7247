//! Trigger tokens. A webhook token is `nwh_` + 32 base62 characters (190 bits); an email
//! token is 32 lowercase base32 characters (160 bits), because mail systems may change the
//! case of an address's local part. Only their SHA-256 hashes are stored; the first
//! characters are kept as a public prefix to recognise a token in a list.

use rand::Rng;

use crate::auth::tokens::token_hash;

/// What every webhook token starts with (lets secret scanners recognise a leaked one).
pub const WEBHOOK_MARKER: &str = "nwh_";
const WEBHOOK_SECRET_LEN: usize = 32;
const EMAIL_TOKEN_LEN: usize = 32;
const PREFIX_LEN: usize = 8;
const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const BASE32: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";

/// A freshly generated token, its hash and its public prefix.
#[derive(Debug)]
pub struct NewToken {
    /// The token, shown to its owner once.
    pub token: String,
    /// SHA-256 of the token, what is stored and looked up.
    pub hash: Vec<u8>,
    /// The token's first characters.
    pub prefix: String,
}

fn random_from(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())]))
        .collect()
}

fn finish(token: String, prefix_len: usize) -> NewToken {
    NewToken {
        hash: token_hash(&token),
        prefix: token[..prefix_len].to_owned(),
        token,
    }
}

/// A new webhook token from the thread CSPRNG.
pub fn webhook() -> NewToken {
    let token = format!(
        "{WEBHOOK_MARKER}{}",
        random_from(BASE62, WEBHOOK_SECRET_LEN)
    );
    finish(token, WEBHOOK_MARKER.len() + PREFIX_LEN)
}

/// A new email token from the thread CSPRNG.
pub fn email() -> NewToken {
    finish(random_from(BASE32, EMAIL_TOKEN_LEN), PREFIX_LEN)
}

/// The hash a presented token is looked up by, or `None` when it cannot be a webhook token
/// (saves a query for obvious garbage).
pub fn webhook_lookup_hash(presented: &str) -> Option<Vec<u8>> {
    let secret = presented.strip_prefix(WEBHOOK_MARKER)?;
    (secret.len() == WEBHOOK_SECRET_LEN && secret.bytes().all(|b| b.is_ascii_alphanumeric()))
        .then(|| token_hash(presented))
}

/// The hash of an email token as presented (any case), or `None` when malformed.
pub fn email_lookup_hash(presented: &str) -> Option<Vec<u8>> {
    let token = presented.to_ascii_lowercase();
    (token.len() == EMAIL_TOKEN_LEN && token.bytes().all(|b| BASE32.contains(&b)))
        .then(|| token_hash(&token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_tokens_are_long_random_and_look_up_by_hash() {
        let a = webhook();
        let b = webhook();
        assert_ne!(a.token, b.token);
        assert!(a.token.starts_with("nwh_") && a.token.len() == 36);
        assert!(a.token.starts_with(&a.prefix));
        assert_eq!(webhook_lookup_hash(&a.token), Some(a.hash));
        assert_eq!(webhook_lookup_hash("nwh_short"), None);
        assert_eq!(webhook_lookup_hash(&a.token.replace("nwh_", "xxx_")), None);
    }

    #[test]
    fn email_tokens_are_case_insensitive() {
        let t = email();
        assert_eq!(t.token.len(), 32);
        assert_eq!(
            email_lookup_hash(&t.token.to_ascii_uppercase()),
            Some(t.hash)
        );
        assert_eq!(email_lookup_hash("not a token"), None);
    }
}

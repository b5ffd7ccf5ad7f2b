//! Application-level encryption of tokens at rest (AES-256-GCM), with the key id
//! stored beside each ciphertext so keys can be rotated; and the random values
//! (OAuth state, PKCE verifiers) the gateway mints.

use std::collections::HashMap;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use sha2::{Digest, Sha256};

/// A ciphertext could not be made or opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    /// The ciphertext names a key the keyring does not hold.
    #[error("no token key with id {0}")]
    UnknownKey(String),
    /// The ciphertext is malformed, or was tampered with, or belongs elsewhere.
    #[error("ciphertext does not open")]
    Corrupt,
    /// The keyring itself is unusable.
    #[error("token keys: {0}")]
    BadKey(String),
}

/// The token-encryption keys by id, and which one seals new values.
#[derive(Clone)]
pub struct Keyring {
    active: String,
    keys: HashMap<String, Aes256Gcm>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut ids: Vec<_> = self.keys.keys().collect();
        ids.sort();
        f.debug_struct("Keyring")
            .field("active", &self.active)
            .field("key_ids", &ids)
            .finish()
    }
}

impl Keyring {
    /// Builds a keyring from base64-encoded 32-byte keys.
    pub fn from_base64(
        active: &str,
        keys: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, CryptoError> {
        let mut ciphers = HashMap::new();
        for (id, encoded) in keys {
            if id.is_empty() || id.contains('.') {
                return Err(CryptoError::BadKey(format!(
                    "key id `{id}` must be non-empty without dots"
                )));
            }
            let bytes = STANDARD
                .decode(encoded.trim())
                .map_err(|_| CryptoError::BadKey(format!("key `{id}` is not base64")))?;
            let cipher = Aes256Gcm::new_from_slice(&bytes)
                .map_err(|_| CryptoError::BadKey(format!("key `{id}` is not 32 bytes")))?;
            ciphers.insert(id, cipher);
        }
        if !ciphers.contains_key(active) {
            return Err(CryptoError::BadKey(format!(
                "active key `{active}` is not in the keyring"
            )));
        }
        Ok(Self {
            active: active.to_owned(),
            keys: ciphers,
        })
    }

    /// The id of the key that seals new values.
    pub fn active_key_id(&self) -> &str {
        &self.active
    }

    /// Encrypts `plaintext`, bound to `context` (e.g. the user and the field) so a
    /// ciphertext cannot be moved to another item. Output: `<key id>.<base64url(nonce ‖ ciphertext)>`.
    #[allow(
        clippy::expect_used,
        reason = "AES-GCM refuses only inputs over 64 GiB; a token is bytes"
    )]
    pub fn seal(&self, plaintext: &str, context: &str) -> String {
        let cipher = &self.keys[&self.active];
        let nonce_bytes: [u8; 12] = rand::random();
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce_bytes),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: context.as_bytes(),
                },
            )
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&sealed);
        format!("{}.{}", self.active, URL_SAFE_NO_PAD.encode(out))
    }

    /// Decrypts what [`Keyring::seal`] made with the same `context`.
    pub fn open(&self, sealed: &str, context: &str) -> Result<String, CryptoError> {
        let (id, body) = sealed.split_once('.').ok_or(CryptoError::Corrupt)?;
        let cipher = self
            .keys
            .get(id)
            .ok_or_else(|| CryptoError::UnknownKey(id.to_owned()))?;
        let bytes = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| CryptoError::Corrupt)?;
        if bytes.len() < 12 {
            return Err(CryptoError::Corrupt);
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        let plain = cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| CryptoError::Corrupt)?;
        String::from_utf8(plain).map_err(|_| CryptoError::Corrupt)
    }
}

/// A random URL-safe token carrying `bytes` bytes of entropy from the OS CSPRNG.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::fill(&mut buf[..]);
    URL_SAFE_NO_PAD.encode(buf)
}

/// SHA-256 in hex: how OAuth state values are keyed in the store, so a read of the
/// table does not yield a usable state.
pub fn sha256_hex(value: &str) -> String {
    Sha256::digest(value.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keyring(active: &str) -> Keyring {
        Keyring::from_base64(
            active,
            [
                ("k1".to_owned(), STANDARD.encode([1u8; 32])),
                ("k2".to_owned(), STANDARD.encode([2u8; 32])),
            ],
        )
        .unwrap()
    }

    #[test]
    fn seal_then_open_round_trips_and_hides_the_value() {
        let ring = keyring("k1");
        let sealed = ring.seal("act.secret-token", "user-1/access");
        assert!(sealed.starts_with("k1."));
        assert!(!sealed.contains("secret-token"));
        assert_eq!(
            ring.open(&sealed, "user-1/access").unwrap(),
            "act.secret-token"
        );
        // Two seals of one value differ (random nonce).
        assert_ne!(sealed, ring.seal("act.secret-token", "user-1/access"));
    }

    #[test]
    fn a_ciphertext_moved_to_another_user_does_not_open() {
        let ring = keyring("k1");
        let sealed = ring.seal("act.secret-token", "user-1/access");
        assert_eq!(
            ring.open(&sealed, "user-2/access"),
            Err(CryptoError::Corrupt)
        );
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert_eq!(
            ring.open(&tampered, "user-1/access"),
            Err(CryptoError::Corrupt)
        );
    }

    #[test]
    fn rotation_keeps_old_ciphertexts_readable() {
        let old = keyring("k1").seal("rft.x", "ctx");
        let rotated = keyring("k2");
        assert!(rotated.seal("rft.x", "ctx").starts_with("k2."));
        assert_eq!(rotated.open(&old, "ctx").unwrap(), "rft.x");
        let without_k1 =
            Keyring::from_base64("k2", [("k2".to_owned(), STANDARD.encode([2u8; 32]))]).unwrap();
        assert_eq!(
            without_k1.open(&old, "ctx"),
            Err(CryptoError::UnknownKey("k1".into()))
        );
    }

    #[test]
    fn bad_keys_are_refused() {
        assert!(
            Keyring::from_base64("k1", [("k1".to_owned(), STANDARD.encode([1u8; 16]))]).is_err()
        );
        assert!(
            Keyring::from_base64("k9", [("k1".to_owned(), STANDARD.encode([1u8; 32]))]).is_err()
        );
        assert!(Keyring::from_base64("k1", [("k1".to_owned(), "***".to_owned())]).is_err());
    }

    #[test]
    fn random_tokens_are_long_and_distinct() {
        let a = random_token(32);
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token(32));
    }
}

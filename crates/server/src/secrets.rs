//! Encryption at rest for stored provider keys: ChaCha20-Poly1305 with a random nonce per
//! secret. The key comes from the config's `secret_key`, else from a key file beside the
//! SQLite database (created on first start, mode 0600).

use anyhow::Context;
use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use std::path::{Path, PathBuf};
use switchyard_core::Secret;

const NONCE_LEN: usize = 12;

/// Seals and opens secrets.
pub struct SecretBox {
    cipher: ChaCha20Poly1305,
}

fn decode(b64: &str) -> anyhow::Result<[u8; 32]> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .context("the secret key is not base64")?;
    bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("the secret key must be 32 bytes"))
}

/// Where the generated key lives for a `database` URL.
pub fn key_file_for(database: &str) -> PathBuf {
    if let Some(path) = database
        .strip_prefix("sqlite://")
        .or_else(|| database.strip_prefix("sqlite:"))
    {
        let path = path.split('?').next().unwrap_or(path);
        if !path.is_empty() && !path.starts_with(':') {
            return Path::new(path).with_extension("key");
        }
    }
    PathBuf::from("switchyard.key")
}

impl SecretBox {
    pub fn from_key(key: &[u8; 32]) -> Self {
        Self {
            cipher: ChaCha20Poly1305::new(Key::from_slice(key)),
        }
    }

    /// The configured key, or the key file (created if missing).
    pub fn load(configured: Option<&Secret>, database: &str) -> anyhow::Result<Self> {
        if let Some(k) = configured {
            return Ok(Self::from_key(&decode(k.expose())?));
        }
        let path = key_file_for(database);
        if path.exists() {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading the key file {}", path.display()))?;
            return Ok(Self::from_key(&decode(&text).with_context(|| {
                format!("the key file {} is invalid", path.display())
            })?));
        }
        if !database.starts_with("sqlite") {
            tracing::warn!(
                path = %path.display(),
                "no secret_key configured: generating a key file; replicas sharing this database need the same key (set secret_key)"
            );
        }
        let key = ChaCha20Poly1305::generate_key(&mut OsRng);
        let text = base64::engine::general_purpose::STANDARD.encode(key);
        write_private(&path, &text)
            .with_context(|| format!("writing the key file {}", path.display()))?;
        Ok(Self {
            cipher: ChaCha20Poly1305::new(&key),
        })
    }

    /// nonce ‖ ciphertext.
    pub fn seal(&self, plaintext: &str) -> Vec<u8> {
        let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
        let mut out = nonce.to_vec();
        // Encryption with a valid key and nonce cannot fail for in-memory input.
        if let Ok(ct) = self.cipher.encrypt(&nonce, plaintext.as_bytes()) {
            out.extend_from_slice(&ct);
        }
        out
    }

    /// The secret, or an error if it was sealed with another key or tampered with.
    pub fn open(&self, sealed: &[u8]) -> anyhow::Result<Secret> {
        if sealed.len() <= NONCE_LEN {
            anyhow::bail!("sealed secret too short");
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), ct)
            .map_err(|_| anyhow::anyhow!("the secret cannot be decrypted with this key"))?;
        Ok(Secret::new(
            String::from_utf8(plain).context("secret is not UTF-8")?,
        ))
    }
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_detects_the_wrong_key() {
        let a = SecretBox::from_key(&[7u8; 32]);
        let sealed = a.seal("xai-secret");
        assert!(!sealed.windows(10).any(|w| w == b"xai-secret"));
        assert_eq!(a.open(&sealed).expect("same key").expose(), "xai-secret");
        assert_ne!(a.seal("xai-secret"), sealed, "nonces differ");
        let b = SecretBox::from_key(&[8u8; 32]);
        assert!(b.open(&sealed).is_err());
        assert!(a.open(&sealed[..5]).is_err());
    }

    #[test]
    fn generates_a_key_file_beside_the_database_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = format!("sqlite://{}", dir.path().join("gw.db").display());
        let first = SecretBox::load(None, &db).expect("generated");
        let sealed = first.seal("k");
        assert!(dir.path().join("gw.key").exists());
        let second = SecretBox::load(None, &db).expect("loaded");
        assert_eq!(second.open(&sealed).expect("same key").expose(), "k");
    }
}

//! Signed, time-limited download links: an HMAC-SHA256 over the export id and the expiry,
//! keyed by the store's secret, is the link's credential.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The MAC of `id` and `expires`, ready for more input or for a check.
fn mac(secret: &[u8], id: &str, expires: i64) -> HmacSha256 {
    // HMAC takes a key of any length, so this cannot fail.
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(format!("{id}:{expires}").as_bytes());
    mac
}

/// The hex signature of a download link for `id` that expires at `expires` (Unix seconds).
pub(crate) fn signature(secret: &[u8], id: &str, expires: i64) -> String {
    hex::encode(mac(secret, id, expires).finalize().into_bytes())
}

/// Whether `given` (hex) is the signature of `id` and `expires`, compared in constant time.
pub(crate) fn verify(secret: &[u8], id: &str, expires: i64, given: &str) -> bool {
    hex::decode(given).is_ok_and(|bytes| mac(secret, id, expires).verify_slice(&bytes).is_ok())
}

/// A signed download URL for an export, valid for `ttl`.
pub(crate) fn download_url(base: &str, secret: &[u8], id: &str, ttl: Duration) -> String {
    let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
    let expires = chrono::Utc::now()
        .checked_add_signed(ttl)
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
        .timestamp();
    format!(
        "{base}/_emulator/downloads/{id}?expires={expires}&signature={}",
        signature(secret, id, expires)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_sha256_known_answer() {
        // RFC 4231, test case 2.
        let mut mac = <HmacSha256 as KeyInit>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(mac.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn signatures_verify_and_tampering_fails() {
        let sig = signature(b"secret", "export-1", 1_700_000_000);
        assert!(verify(b"secret", "export-1", 1_700_000_000, &sig));
        assert!(!verify(b"secret", "export-1", 1_700_000_001, &sig));
        assert!(!verify(b"secret", "export-2", 1_700_000_000, &sig));
        assert!(!verify(b"other", "export-1", 1_700_000_000, &sig));
        assert!(!verify(b"secret", "export-1", 1_700_000_000, "zz"));
        assert!(!verify(b"secret", "export-1", 1_700_000_000, ""));
    }
}

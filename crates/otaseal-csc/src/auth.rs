//! Authentication primitives: Argon2id secret hashes, random bearer tokens
//! and SADs (stored only as SHA-256 hashes), TOTP (RFC 6238), per-client
//! rate limits and the service clock.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Argon2, PasswordHash};
use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Time source of the service (injectable: tests move time forward by
/// months without waiting).
pub trait Clock: Send + Sync {
    /// Unix seconds.
    fn now(&self) -> u64;
}

/// The system clock.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
}

/// A clock set by hand (tests).
#[derive(Debug)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    /// Starts at `now`.
    pub fn new(now: u64) -> ManualClock {
        ManualClock(AtomicU64::new(now))
    }
    /// Sets the time.
    pub fn set(&self, now: u64) {
        self.0.store(now, Ordering::SeqCst);
    }
    /// Moves the time forward.
    pub fn advance(&self, secs: u64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// A clock that starts at a given time and runs at real speed (the
/// test-only `--now` of `otaseal csc serve`).
#[derive(Debug)]
pub struct ShiftedClock {
    start: u64,
    since: Instant,
}

impl ShiftedClock {
    /// Starts at `start`.
    pub fn new(start: u64) -> ShiftedClock {
        ShiftedClock {
            start,
            since: Instant::now(),
        }
    }
}

impl Clock for ShiftedClock {
    fn now(&self) -> u64 {
        self.start.saturating_add(self.since.elapsed().as_secs())
    }
}

/// Argon2id PHC string of `secret` (random salt, the crate's default
/// parameters: 19 MiB, 2 passes).
pub fn hash_secret(secret: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(secret.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| format!("Argon2: {e}"))
}

/// Checks `secret` against a PHC string (constant time in the crate).
pub fn verify_secret(secret: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(secret.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A fixed Argon2id hash that no secret matches, checked for unknown
/// clients so their answer takes as long as a wrong secret.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash_secret("otaseal-csc unknown client").unwrap_or_default())
}

/// A new random value (bearer token, SAD, client secret): 32 bytes,
/// URL-safe Base64 without padding.
pub fn random_token() -> Result<Zeroizing<String>, String> {
    use base64ct::Encoding;
    let mut b = Zeroizing::new([0u8; 32]);
    getrandom::fill(b.as_mut()).map_err(|e| e.to_string())?;
    Ok(Zeroizing::new(base64ct::Base64UrlUnpadded::encode_string(
        b.as_ref(),
    )))
}

/// What the store keeps of a token or SAD.
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// RFC 6238 TOTP (HMAC-SHA-1, 30-second steps, 6 digits) for `time`.
pub fn totp(secret: &[u8], time: u64) -> Result<String, String> {
    let counter = time / 30;
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(secret).map_err(|e| e.to_string())?;
    mac.update(&counter.to_be_bytes());
    let h = mac.finalize().into_bytes();
    let off = usize::from(h[h.len() - 1] & 0x0f);
    let bin = u32::from_be_bytes([h[off] & 0x7f, h[off + 1], h[off + 2], h[off + 3]]);
    Ok(format!("{:06}", bin % 1_000_000))
}

/// Accepts an OTP of the current step or one step either side (clock skew).
pub fn totp_matches(secret: &[u8], otp: &str, now: u64) -> bool {
    [now.saturating_sub(30), now, now.saturating_add(30)]
        .iter()
        .filter_map(|t| totp(secret, *t).ok())
        .any(|code| constant_time_eq(code.as_bytes(), otp.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Per-client token buckets: `rate` requests per minute, bursts up to `rate`.
#[derive(Debug, Default)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    /// Takes one request from `client`'s bucket; false when empty.
    pub fn allow(&self, client: &str, rate_per_minute: u32) -> bool {
        let cap = f64::from(rate_per_minute.max(1));
        let now = Instant::now();
        let mut m = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (tokens, last) = m.entry(client.to_string()).or_insert((cap, now));
        let refill = now.duration_since(*last).as_secs_f64() * cap / 60.0;
        *tokens = (*tokens + refill).min(cap);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totp_matches_rfc_6238() {
        // RFC 6238 appendix B, SHA-1, T = 59: 94287082 (8 digits) -> 287082.
        assert_eq!(totp(b"12345678901234567890", 59).unwrap(), "287082");
        assert_eq!(totp(b"12345678901234567890", 1111111109).unwrap(), "081804");
        assert!(totp_matches(b"12345678901234567890", "287082", 59 + 30));
        assert!(!totp_matches(b"12345678901234567890", "287082", 59 + 90));
    }

    #[test]
    fn secrets_verify_only_themselves() {
        let h = hash_secret("s3cret").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_secret("s3cret", &h));
        assert!(!verify_secret("s3cres", &h));
        assert!(!verify_secret("s3cret", dummy_hash()));
    }

    #[test]
    fn rate_limiter_empties() {
        let r = RateLimiter::default();
        assert!((0..5).all(|_| r.allow("a", 5)));
        assert!(!r.allow("a", 5));
        assert!(r.allow("b", 5));
    }
}

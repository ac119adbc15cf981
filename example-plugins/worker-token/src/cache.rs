//! The authenticator's cache: a warm token authenticates with no database query, yet a
//! revocation is seen everywhere within [`TTL`].
//!
//! Each entry is trusted for [`TTL`] after it was read; then the next request re-reads the
//! row. A revocation on this server also evicts the entry at once. Other replicas see it when
//! their entry expires, so within [`TTL`] (< 1 s) — with no extra machinery, on SQLite and
//! PostgreSQL alike (see `docs/decisions/0007-worker-token-revocation.md`).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use flovyn_sdk::{Identity, PrincipalType};

/// How long a token row read from the database is trusted.
pub const TTL: Duration = Duration::from_millis(500);

/// How often `last_used_at` is written for one token, at most.
pub const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// Database lookups by the authenticator since start (for tests and metrics).
pub static LOOKUPS: AtomicU64 = AtomicU64::new(0);

/// What the authenticator needs of a token's row.
#[derive(Debug, Clone)]
pub struct CachedToken {
    /// Token id.
    pub id: String,
    /// Its tenant.
    pub tenant: String,
    /// SHA-256 of the token.
    pub hash: String,
    /// Expiry (RFC 3339), if any.
    pub expires_at: Option<String>,
    /// Whether it was revoked.
    pub revoked: bool,
}

impl CachedToken {
    /// Not revoked and not expired at `now` (RFC 3339; fixed-width, so text order is time
    /// order).
    pub fn usable_at(&self, now: &str) -> bool {
        !self.revoked && self.expires_at.as_deref().is_none_or(|e| e > now)
    }

    /// The identity the token authenticates as.
    pub fn identity(&self) -> Identity {
        Identity {
            principal_id: format!("worker-token:{}", self.id),
            principal_type: PrincipalType::Worker,
            tenant: Some(self.tenant.clone()),
            roles: vec!["worker".to_owned()],
            permissions: Vec::new(),
        }
    }
}

#[derive(Debug)]
struct Entry {
    token: CachedToken,
    read_at: Instant,
    touched_at: Option<Instant>,
}

/// Token rows by lookup part.
#[derive(Debug, Default)]
pub struct TokenCache {
    entries: Mutex<HashMap<String, Entry>>,
}

impl TokenCache {
    /// The entry for `lookup` if it was read less than [`TTL`] ago.
    pub fn get_fresh(&self, lookup: &str) -> Option<CachedToken> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(lookup)
            .filter(|e| e.read_at.elapsed() < TTL)
            .map(|e| e.token.clone())
    }

    /// Stores a row just read; returns it.
    pub fn put(&self, lookup: &str, token: CachedToken) -> CachedToken {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        // Expired entries of other tokens go too, so the map stays as small as the set of
        // tokens in use.
        entries.retain(|_, e| e.read_at.elapsed() < TOUCH_EVERY);
        let touched_at = entries.get(lookup).and_then(|e| e.touched_at);
        entries.insert(
            lookup.to_owned(),
            Entry {
                token: token.clone(),
                read_at: Instant::now(),
                touched_at,
            },
        );
        token
    }

    /// Evicts `lookup` (after a revocation on this server).
    pub fn forget(&self, lookup: &str) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(lookup);
    }

    /// Whether `last_used_at` should be written now for `lookup` (at most every
    /// [`TOUCH_EVERY`]); marks it written.
    pub fn should_touch(&self, lookup: &str) -> bool {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let Some(entry) = entries.get_mut(lookup) else {
            return false;
        };
        if entry.touched_at.is_some_and(|t| t.elapsed() < TOUCH_EVERY) {
            return false;
        }
        entry.touched_at = Some(Instant::now());
        true
    }
}

//! The authenticator's cache: a warm token authenticates with no database query on the
//! request path, yet a revocation is seen everywhere within [`MAX_AGE`] (< 1 s).
//!
//! An entry read less than [`TTL`] ago is used as it is. Between [`TTL`] and [`MAX_AGE`] it
//! is still used, and the first request to find it so starts one re-read in the background
//! (the others do not start another). An entry older than [`MAX_AGE`] is never used: the
//! request reads the row itself. A revocation on this server also evicts the entry at once.
//! Other replicas see it once their entry is re-read, at the latest [`MAX_AGE`] after their
//! last read — with no extra machinery, on SQLite and PostgreSQL alike (see
//! `docs/decisions/0007-worker-token-revocation.md`).

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use flovyn_sdk::{Identity, PrincipalType};

use crate::token::TokenHash;

/// How long a token row read from the database is used without a re-read.
pub const TTL: Duration = Duration::from_millis(500);

/// How long a token row is used at most, re-read or not: the bound on how late another
/// replica's revocation is seen.
pub const MAX_AGE: Duration = Duration::from_millis(900);

/// How often `last_used_at` is written for one token, at most.
pub const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// Database lookups by the authenticator since start (for tests and metrics).
pub static LOOKUPS: AtomicU64 = AtomicU64::new(0);

/// What the authenticator needs of a token's row, decoded once when it is read.
#[derive(Debug)]
pub struct CachedToken {
    id: String,
    /// `None` when the stored hash is not one `token::hash` writes: nothing matches it.
    hash: Option<TokenHash>,
    /// Expiry; a stored expiry that cannot be read counts as already expired.
    expires_at: Option<SystemTime>,
    revoked: bool,
    identity: Identity,
}

impl CachedToken {
    /// A token row: its id, tenant, stored hash (hex), expiry (RFC 3339), whether it was
    /// revoked, and the permissions it grants.
    pub fn new(
        id: String,
        tenant: String,
        hash: &str,
        expires_at: Option<&str>,
        revoked: bool,
        permissions: Vec<String>,
    ) -> Self {
        let identity = Identity {
            principal_id: format!("worker-token:{id}"),
            principal_type: PrincipalType::Worker,
            tenant: Some(tenant),
            roles: vec!["worker".to_owned()],
            permissions,
        };
        Self {
            id,
            hash: TokenHash::from_hex(hash),
            expires_at: expires_at
                .map(|e| flovyn_sdk::time::parse(e).unwrap_or(SystemTime::UNIX_EPOCH)),
            revoked,
            identity,
        }
    }

    /// The token's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether `presented` is this token and it is usable now: not revoked, not expired.
    /// The hash is compared in constant time.
    pub fn accepts(&self, presented: &str) -> bool {
        self.accepts_at(presented, SystemTime::now)
    }

    /// [`CachedToken::accepts`] at the time `now` gives (read only for a token that
    /// expires).
    fn accepts_at(&self, presented: &str, now: impl FnOnce() -> SystemTime) -> bool {
        let matches = self.hash.is_some_and(|h| h.matches(presented));
        matches && !self.revoked && self.expires_at.is_none_or(|e| e > now())
    }

    /// The identity the token authenticates as.
    pub fn identity(&self) -> Identity {
        self.identity.clone()
    }
}

/// What the cache knows of a token, and whether its `last_used_at` is due to be written
/// (see [`TokenCache::mark_touched`]).
#[derive(Debug)]
pub struct Lookup {
    /// The row, if it can be used.
    pub cached: Cached,
    /// `last_used_at` was last written [`TOUCH_EVERY`] ago or more (or never).
    pub touch_due: bool,
}

/// What the cache knows of a token.
#[derive(Debug)]
pub enum Cached {
    /// Read less than [`TTL`] ago: use it.
    Fresh(Arc<CachedToken>),
    /// Read between [`TTL`] and [`MAX_AGE`] ago: use it; when `refresh`, this caller is
    /// the one to re-read it (in the background) and must then [`TokenCache::put`] it or
    /// call [`TokenCache::refresh_failed`].
    Stale {
        /// The row as last read.
        token: Arc<CachedToken>,
        /// Whether this caller re-reads it.
        refresh: bool,
    },
    /// Not cached, or too old to use: read it now.
    Missing,
}

#[derive(Debug)]
struct Entry {
    token: Arc<CachedToken>,
    read_at: Instant,
    touched_at: Option<Instant>,
    refreshing: bool,
}

/// Token rows by lookup part. Only rows found in the database are stored, so a client
/// cannot fill the map with keys of its choosing; a fast hash is enough.
#[derive(Debug, Default)]
pub struct TokenCache {
    entries: Mutex<HashMap<String, Entry, foldhash::fast::RandomState>>,
}

impl TokenCache {
    /// What the cache knows of `lookup` now (one lock, one clock read).
    pub fn get(&self, lookup: &str) -> Lookup {
        let now = Instant::now();
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let touch_due = entries.get(lookup).is_none_or(|e| {
            e.touched_at
                .is_none_or(|t| now.saturating_duration_since(t) >= TOUCH_EVERY)
        });
        Lookup {
            cached: Self::get_locked(&mut entries, lookup, now),
            touch_due,
        }
    }

    #[cfg(test)]
    fn get_at(&self, lookup: &str, now: Instant) -> Cached {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        Self::get_locked(&mut entries, lookup, now)
    }

    fn get_locked(
        entries: &mut HashMap<String, Entry, foldhash::fast::RandomState>,
        lookup: &str,
        now: Instant,
    ) -> Cached {
        let Some(entry) = entries.get_mut(lookup) else {
            return Cached::Missing;
        };
        let age = now.saturating_duration_since(entry.read_at);
        if age < TTL {
            Cached::Fresh(entry.token.clone())
        } else if age < MAX_AGE {
            let refresh = !entry.refreshing;
            entry.refreshing = true;
            Cached::Stale {
                token: entry.token.clone(),
                refresh,
            }
        } else {
            Cached::Missing
        }
    }

    /// Stores a row just read; returns it.
    pub fn put(&self, lookup: &str, token: CachedToken) -> Arc<CachedToken> {
        self.put_at(lookup, token, Instant::now())
    }

    fn put_at(&self, lookup: &str, token: CachedToken, now: Instant) -> Arc<CachedToken> {
        let token = Arc::new(token);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        // Old entries of other tokens go too, so the map stays as small as the set of
        // tokens in use.
        entries.retain(|_, e| now.saturating_duration_since(e.read_at) < TOUCH_EVERY);
        let touched_at = entries.get(lookup).and_then(|e| e.touched_at);
        entries.insert(
            lookup.to_owned(),
            Entry {
                token: token.clone(),
                read_at: now,
                touched_at,
                refreshing: false,
            },
        );
        token
    }

    /// A background re-read of `lookup` failed: the next request to find it stale retries
    /// (and past [`MAX_AGE`] requests read it themselves).
    pub fn refresh_failed(&self, lookup: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = entries.get_mut(lookup) {
            entry.refreshing = false;
        }
    }

    /// Evicts `lookup` (after a revocation on this server, or when its row is gone).
    pub fn forget(&self, lookup: &str) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(lookup);
    }

    /// Whether `last_used_at` should be written now for `lookup` (at most every
    /// [`TOUCH_EVERY`]); marks it written. Called once [`Lookup::touch_due`] said so and the
    /// token was accepted; checks again, so that concurrent requests write it once.
    pub fn mark_touched(&self, lookup: &str) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token;

    fn row(hash: &str) -> CachedToken {
        CachedToken::new("t1".into(), "default".into(), hash, None, false, Vec::new())
    }

    #[test]
    fn fresh_then_stale_with_one_refresher_then_missing() {
        let cache = TokenCache::default();
        let t0 = Instant::now();
        assert!(matches!(cache.get_at("abc", t0), Cached::Missing));
        cache.put_at("abc", row(&token::hash("x")), t0);

        assert!(matches!(
            cache.get_at("abc", t0 + TTL / 2),
            Cached::Fresh(_)
        ));
        // Past the TTL: the first caller refreshes, the others use the entry as it is.
        assert!(matches!(
            cache.get_at("abc", t0 + TTL),
            Cached::Stale { refresh: true, .. }
        ));
        assert!(matches!(
            cache.get_at("abc", t0 + TTL + Duration::from_millis(10)),
            Cached::Stale { refresh: false, .. }
        ));
        // A failed refresh lets the next caller try again.
        cache.refresh_failed("abc");
        assert!(matches!(
            cache.get_at("abc", t0 + TTL + Duration::from_millis(20)),
            Cached::Stale { refresh: true, .. }
        ));
        // Never used past MAX_AGE, refreshing or not.
        assert!(matches!(cache.get_at("abc", t0 + MAX_AGE), Cached::Missing));

        // A re-read resets the age and the refresh.
        cache.put_at("abc", row(&token::hash("x")), t0 + MAX_AGE);
        assert!(matches!(
            cache.get_at("abc", t0 + MAX_AGE + TTL / 2),
            Cached::Fresh(_)
        ));
    }

    #[test]
    fn accepts_only_the_token_while_usable() {
        let now = SystemTime::now();
        let good = row(&token::hash("fwt_a"));
        assert!(good.accepts_at("fwt_a", || now));
        assert!(!good.accepts_at("fwt_b", || now));

        let revoked = CachedToken::new(
            "t".into(),
            "d".into(),
            &token::hash("fwt_a"),
            None,
            true,
            Vec::new(),
        );
        assert!(!revoked.accepts_at("fwt_a", || now));

        let later = flovyn_sdk::time::at(now + Duration::from_secs(60));
        let earlier = flovyn_sdk::time::at(now - Duration::from_secs(60));
        let expiring = CachedToken::new(
            "t".into(),
            "d".into(),
            &token::hash("fwt_a"),
            Some(&later),
            false,
            Vec::new(),
        );
        assert!(expiring.accepts_at("fwt_a", || now));
        assert!(!expiring.accepts_at("fwt_a", || now + Duration::from_secs(61)));
        let expired = CachedToken::new(
            "t".into(),
            "d".into(),
            &token::hash("fwt_a"),
            Some(&earlier),
            false,
            Vec::new(),
        );
        assert!(!expired.accepts_at("fwt_a", || now));

        // Unreadable stored values fail closed.
        assert!(!row("not a hash").accepts_at("fwt_a", || now));
        let unreadable_expiry = CachedToken::new(
            "t".into(),
            "d".into(),
            &token::hash("fwt_a"),
            Some("soon"),
            false,
            Vec::new(),
        );
        assert!(!unreadable_expiry.accepts_at("fwt_a", || now));
    }
}

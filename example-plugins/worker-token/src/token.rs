//! The worker token format: `fwt_<lookup>_<secret>_<checksum>`.
//!
//! # Layout
//!
//! A worker token is exactly [`TOKEN_LEN`] (52) ASCII characters:
//!
//! ```text
//! fwt_ 0123456789 _ abcdefghijklmnopqrstuvwxyzABCD _ 4F5Yn8
//! ^^^^ ^^^^^^^^^^ ^ ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ ^ ^^^^^^
//!  |    lookup    |            secret              |  checksum
//!  |   10 base62  '_'         30 base62           '_' 6 base62
//!  prefix "fwt_"
//! ```
//!
//! (written here with spaces for reading; the real token has none:
//! `fwt_0123456789_abcdefghijklmnopqrstuvwxyzABCD_4F5Yn8`).
//!
//! * **prefix** — the literal [`TOKEN_PREFIX`] `fwt_` ("Flovyn worker token").
//! * **lookup** — [`LOOKUP_LEN`] (10) random base62 characters (≈ 59.5 bits). It is **not
//!   secret**: it is stored in clear, in a unique, indexed column, to find the token's row.
//! * **secret** — [`SECRET_LEN`] (30) base62 characters drawn uniformly from the operating
//!   system's CSPRNG (`getrandom`, with rejection sampling so that every character is
//!   equally likely): 30 · log2(62) ≈ **178.6 bits** of entropy.
//! * **checksum** — the CRC-32 (IEEE, as in zlib/PNG) of every byte before it
//!   (`fwt_<lookup>_<secret>`), written as a base62 number of exactly [`CHECKSUM_LEN`] (6)
//!   digits, most significant first, zero-padded (62⁶ ≈ 5.7·10¹⁰ > 2³² ≈ 4.3·10⁹).
//!
//! The base62 alphabet is [`ALPHABET`], `0-9A-Za-z` in ASCII order. Everything is
//! case-sensitive.
//!
//! # Why this shape
//!
//! * **A recognisable prefix.** `fwt_` lets secret scanners (push protection, log scrubbers)
//!   match leaked worker tokens with a simple pattern, `fwt_[0-9A-Za-z]{10}_[0-9A-Za-z]{30}_[0-9A-Za-z]{6}`,
//!   with very few false positives — and lets the server's authenticator tell, without a
//!   database, whether a bearer credential is ours at all ([`TokenError::NotOurs`]) or
//!   belongs to another authenticator.
//! * **A non-secret lookup id, so the stored hash can be a plain SHA-256.** Passwords need a
//!   slow, salted KDF (argon2, bcrypt) because they have little entropy and can be guessed.
//!   The secret here has ≈ 178 bits from a CSPRNG: no dictionary, no brute force, no rainbow
//!   table reaches it, so a fast unsalted SHA-256 of the whole token is as strong as it
//!   needs to be ([`hash`]). Because a fast hash is deterministic, one *could* look the token
//!   up by its hash — but the lookup id is what is indexed instead: the row is found through
//!   a non-secret column, so the database query's timing depends only on public data, and
//!   the secret comparison happens in the application.
//! * **A constant-time comparison.** [`verify`] compares the SHA-256 of the presented token
//!   with the stored hash using [`subtle`], whose running time does not depend on where the
//!   two first differ.
//! * **An offline checksum.** A typo, a truncated copy-paste or random garbage is rejected by
//!   [`parse`] alone, with no database round trip: the layout fixes the length of every part,
//!   and the CRC-32 detects every error confined to 32 consecutive bits — in particular
//!   *every* single-character substitution (one byte changes) and every swap of two adjacent
//!   characters. A change *inside* the checksum is also always caught, because the
//!   fixed-width positional base62 decoding is one-to-one: a different digit string decodes to
//!   a different number, which cannot equal the CRC the unchanged rest still produces.
//!   A deletion or insertion changes the length. So **any single-character change of a
//!   valid token is rejected by [`parse`]** (`tests/token_properties.rs` checks this).
//!   The checksum is *not* a security measure — anyone can compute a CRC — it only saves
//!   database queries and gives users a precise error for mistyped tokens.
//!
//! # Using it
//!
//! ```
//! use worker_token::token::{self, TokenError};
//!
//! // When a worker token is created: show `token` once, store `lookup` and `hash`.
//! let issued = token::issue();
//!
//! // When a request presents a bearer credential:
//! let presented = issued.token.as_str();
//! match token::parse(presented) {
//!     Err(TokenError::NotOurs) => { /* let another authenticator try */ }
//!     Err(_) => { /* 401 at once: no database query */ }
//!     Ok(parsed) => {
//!         // SELECT hash FROM worker_tokens WHERE lookup = $1   -- with parsed.lookup
//!         assert_eq!(parsed.lookup, issued.lookup);
//!         assert!(token::verify(presented, &issued.hash));
//!     }
//! }
//! ```

use std::fmt;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The literal prefix of every worker token ("Flovyn worker token").
pub const TOKEN_PREFIX: &str = "fwt_";
/// Number of base62 characters in the (non-secret) lookup id.
pub const LOOKUP_LEN: usize = 10;
/// Number of base62 characters in the secret (≈ 178.6 bits of entropy).
pub const SECRET_LEN: usize = 30;
/// Number of base62 digits of the CRC-32 checksum.
pub const CHECKSUM_LEN: usize = 6;
/// Total length of a worker token, in bytes (all of them ASCII): 52.
pub const TOKEN_LEN: usize = LOOKUP_END + 1 + SECRET_LEN + 1 + CHECKSUM_LEN;
/// The base62 alphabet, `0-9A-Za-z`; a character's index is its digit value.
pub const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

const SEPARATOR: u8 = b'_';
const LOOKUP_START: usize = TOKEN_PREFIX.len();
const LOOKUP_END: usize = LOOKUP_START + LOOKUP_LEN;
const SECRET_START: usize = LOOKUP_END + 1;
const SECRET_END: usize = SECRET_START + SECRET_LEN;
const CHECKSUM_START: usize = SECRET_END + 1;

/// A freshly issued worker token.
///
/// `token` is shown to the user exactly once and never stored; `lookup` and `hash` are what
/// the database keeps. Its [`Debug`](fmt::Debug) output leaves the token out.
#[derive(Clone)]
pub struct IssuedToken {
    /// The full secret token (`fwt_…`), to be shown once.
    pub token: String,
    /// The non-secret lookup id, stored in clear in a unique, indexed column.
    pub lookup: String,
    /// Lowercase hex SHA-256 of the full token ([`hash`]), the value that is stored.
    pub hash: String,
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("token", &"<redacted>")
            .field("lookup", &self.lookup)
            .field("hash", &self.hash)
            .finish()
    }
}

/// A token whose format and checksum are valid, borrowed from the presented string.
///
/// Parsing says nothing about whether the token exists or is still valid: look the row up by
/// [`lookup`](Self::lookup), then [`verify`] the whole token against its stored hash. Its
/// [`Debug`](fmt::Debug) output leaves the secret out.
#[derive(Clone, Copy)]
pub struct ParsedToken<'a> {
    /// The non-secret lookup id ([`LOOKUP_LEN`] base62 characters).
    pub lookup: &'a str,
    /// The secret part ([`SECRET_LEN`] base62 characters).
    pub secret: &'a str,
    /// The checksum, already checked to be the CRC-32 of everything before it.
    pub checksum: u32,
}

impl fmt::Debug for ParsedToken<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedToken")
            .field("lookup", &self.lookup)
            .field("secret", &"<redacted>")
            .field("checksum", &self.checksum)
            .finish()
    }
}

/// Why a presented string is not a valid worker token. All of these are decided offline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// It does not start with [`TOKEN_PREFIX`]: not a worker token, perhaps another
    /// authenticator's credential.
    NotOurs,
    /// It starts with `fwt_` but has the wrong length, a misplaced separator or a character
    /// outside the base62 alphabet.
    Malformed,
    /// Well formed, but the checksum is not the CRC-32 of the rest: a typo.
    BadChecksum,
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenError::NotOurs => "not a worker token (no `fwt_` prefix)",
            TokenError::Malformed => "malformed worker token",
            TokenError::BadChecksum => "worker token checksum mismatch (mistyped or truncated?)",
        })
    }
}

impl std::error::Error for TokenError {}

/// Issues a new worker token from the operating system's CSPRNG.
///
/// # Panics
///
/// If the operating system's random number generator fails, which is not recoverable (no
/// token must ever be made from weak randomness).
pub fn issue() -> IssuedToken {
    let lookup = random_base62(LOOKUP_LEN);
    let secret = random_base62(SECRET_LEN);
    let token = assemble(&lookup, &secret).expect("random parts are base62 of the right length");
    let hash = hash(&token);
    IssuedToken {
        token,
        lookup,
        hash,
    }
}

/// Builds the token `fwt_<lookup>_<secret>_<checksum>` from given parts, computing the
/// checksum.
///
/// [`issue`] is the way to make real tokens; this exists for deterministic fixtures and
/// tests. Fails with [`TokenError::Malformed`] unless `lookup` has [`LOOKUP_LEN`] and
/// `secret` [`SECRET_LEN`] characters, all from [`ALPHABET`].
pub fn assemble(lookup: &str, secret: &str) -> Result<String, TokenError> {
    if !is_base62(lookup.as_bytes(), LOOKUP_LEN) || !is_base62(secret.as_bytes(), SECRET_LEN) {
        return Err(TokenError::Malformed);
    }
    let mut token = String::with_capacity(TOKEN_LEN);
    token.push_str(TOKEN_PREFIX);
    token.push_str(lookup);
    token.push(char::from(SEPARATOR));
    token.push_str(secret);
    let checksum = encode_checksum(crc32fast::hash(token.as_bytes()));
    token.push(char::from(SEPARATOR));
    token.extend(checksum.iter().map(|&b| char::from(b)));
    debug_assert_eq!(token.len(), TOKEN_LEN);
    Ok(token)
}

/// Checks a presented string's format and checksum, without any database.
///
/// [`TokenError::NotOurs`] if it does not start with `fwt_`; [`TokenError::Malformed`] if
/// the layout or alphabet is wrong; [`TokenError::BadChecksum`] if the checksum does not
/// match. Never panics, whatever the input.
pub fn parse(token: &str) -> Result<ParsedToken<'_>, TokenError> {
    if !token.starts_with(TOKEN_PREFIX) {
        return Err(TokenError::NotOurs);
    }
    let bytes = token.as_bytes();
    if bytes.len() != TOKEN_LEN
        || bytes[LOOKUP_END] != SEPARATOR
        || bytes[SECRET_END] != SEPARATOR
        || !is_base62(&bytes[LOOKUP_START..LOOKUP_END], LOOKUP_LEN)
        || !is_base62(&bytes[SECRET_START..SECRET_END], SECRET_LEN)
        || !is_base62(&bytes[CHECKSUM_START..], CHECKSUM_LEN)
    {
        return Err(TokenError::Malformed);
    }
    // Every byte is now ASCII, so the indices below are char boundaries.
    let checksum = crc32fast::hash(&bytes[..SECRET_END]);
    // Fixed-width positional decoding is one-to-one, so a changed checksum digit can never
    // decode to the same number; a value above u32::MAX can never match either.
    if decode_base62(&bytes[CHECKSUM_START..]) != u64::from(checksum) {
        return Err(TokenError::BadChecksum);
    }
    Ok(ParsedToken {
        lookup: &token[LOOKUP_START..LOOKUP_END],
        secret: &token[SECRET_START..SECRET_END],
        checksum,
    })
}

/// Lowercase hex SHA-256 of the whole token (64 characters): the value to store.
pub fn hash(token: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(token.as_bytes());
    let mut out = String::with_capacity(64);
    for byte in digest {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    out
}

/// Whether `token` hashes to `stored_hash` (as made by [`hash`]: lowercase hex), compared in
/// constant time.
///
/// Call [`parse`] first and look `stored_hash` up by the parsed lookup id; this function
/// does not check the format itself.
pub fn verify(token: &str, stored_hash: &str) -> bool {
    TokenHash::from_hex(stored_hash).is_some_and(|stored| stored.matches(token))
}

/// A stored token hash, decoded from its hex text once (the authenticator's cache keeps
/// these), so that checking a presented token is one SHA-256 and a 32-byte comparison.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TokenHash([u8; 32]);

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not secret, but of no use in logs either.
        f.write_str("TokenHash(…)")
    }
}

impl TokenHash {
    /// The hash as [`hash`] writes it: 64 lowercase hex digits; `None` for anything else.
    pub fn from_hex(text: &str) -> Option<Self> {
        let nibble = |c: u8| match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            _ => None,
        };
        let bytes = text.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            out[i] = nibble(pair[0])? << 4 | nibble(pair[1])?;
        }
        Some(Self(out))
    }

    /// Whether `token` hashes to this, compared in constant time.
    pub fn matches(&self, token: &str) -> bool {
        Sha256::digest(token.as_bytes())
            .as_slice()
            .ct_eq(&self.0)
            .into()
    }
}

/// `len` uniformly distributed base62 characters from the OS CSPRNG.
fn random_base62(len: usize) -> String {
    // 248 = 4 · 62: bytes below it map uniformly onto the 62 digits; the rest are rejected.
    const LIMIT: u8 = 248;
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        getrandom::fill(&mut buf).expect("the operating system's random number generator failed");
        for &byte in buf.iter().filter(|&&b| b < LIMIT) {
            out.push(char::from(ALPHABET[usize::from(byte % 62)]));
            if out.len() == len {
                break;
            }
        }
    }
    buf.fill(0);
    out
}

/// The value of a base62 digit, or `None` for any other byte.
fn digit(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'A'..=b'Z' => Some(byte - b'A' + 10),
        b'a'..=b'z' => Some(byte - b'a' + 36),
        _ => None,
    }
}

fn is_base62(bytes: &[u8], len: usize) -> bool {
    bytes.len() == len && bytes.iter().all(|&b| digit(b).is_some())
}

/// `crc` as exactly [`CHECKSUM_LEN`] base62 digits, most significant first.
fn encode_checksum(crc: u32) -> [u8; CHECKSUM_LEN] {
    let mut out = [b'0'; CHECKSUM_LEN];
    let mut rest = crc;
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(rest % 62) as usize];
        rest /= 62;
    }
    debug_assert_eq!(rest, 0);
    out
}

/// The number written by base62 digits (already checked to be digits; at most 6 of them,
/// so no overflow).
fn decode_base62(digits: &[u8]) -> u64 {
    digits
        .iter()
        .fold(0, |acc, &b| acc * 62 + u64::from(digit(b).unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed token, pinned so the format cannot change by accident.
    const GOLDEN: &str = "fwt_0123456789_abcdefghijklmnopqrstuvwxyzABCD_4F5Yn8";

    #[test]
    fn golden_token_is_stable() {
        let token = assemble("0123456789", "abcdefghijklmnopqrstuvwxyzABCD").unwrap();
        assert_eq!(token, GOLDEN);
        let parsed = parse(GOLDEN).unwrap();
        assert_eq!(parsed.lookup, "0123456789");
        assert_eq!(parsed.secret, "abcdefghijklmnopqrstuvwxyzABCD");
        assert_eq!(parsed.checksum, crc32fast::hash(&GOLDEN.as_bytes()[..45]));
    }

    #[test]
    fn layout_constants() {
        assert_eq!(TOKEN_LEN, 52);
        assert_eq!(ALPHABET.len(), 62);
        assert!(ALPHABET.windows(2).all(|w| w[0] < w[1]), "ASCII order");
        // 30 base62 characters carry at least 160 bits.
        assert!(SECRET_LEN as f64 * 62f64.log2() >= 160.0);
        // Every CRC-32 fits in the checksum width.
        assert!(62u64.pow(CHECKSUM_LEN as u32) > u64::from(u32::MAX));
    }

    #[test]
    fn checksum_encoding_round_trips_at_the_edges() {
        for crc in [
            0,
            1,
            61,
            62,
            3843,
            3844,
            0xCBF4_3926,
            u32::MAX - 1,
            u32::MAX,
        ] {
            let encoded = encode_checksum(crc);
            assert_eq!(decode_base62(&encoded), u64::from(crc), "{crc}");
        }
        assert_eq!(&encode_checksum(0), b"000000");
        assert_eq!(&encode_checksum(61), b"00000z");
        assert_eq!(&encode_checksum(62), b"000010");
        assert_eq!(&encode_checksum(u32::MAX), b"4gfFC3");
    }

    #[test]
    fn issued_tokens_parse_and_lookup_matches() {
        for _ in 0..100 {
            let issued = issue();
            assert_eq!(issued.token.len(), TOKEN_LEN);
            assert!(issued.token.starts_with(TOKEN_PREFIX));
            let parsed = parse(&issued.token).unwrap();
            assert_eq!(parsed.lookup, issued.lookup);
            assert_eq!(parsed.lookup.len(), LOOKUP_LEN);
            assert_eq!(parsed.secret.len(), SECRET_LEN);
            assert_eq!(issued.hash, hash(&issued.token));
        }
    }

    #[test]
    fn hash_is_hex_sha256() {
        // FIPS 180-2 test vector.
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let issued = issue();
        assert_eq!(issued.hash.len(), 64);
        assert!(
            issued
                .hash
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        let expected: String = Sha256::digest(issued.token.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(issued.hash, expected);
    }

    #[test]
    fn verify_accepts_only_the_matching_token() {
        let a = issue();
        let b = issue();
        assert!(verify(&a.token, &a.hash));
        assert!(verify(&b.token, &b.hash));
        assert!(!verify(&a.token, &b.hash));
        assert!(!verify(&b.token, &a.hash));
        assert!(!verify(&a.token, ""));
        assert!(!verify(&a.token, &a.hash[..63]));
        assert!(!verify(&a.token, &a.hash.to_uppercase()));
        let mut flipped = a.hash.clone().into_bytes();
        flipped[63] = if flipped[63] == b'0' { b'1' } else { b'0' };
        assert!(!verify(&a.token, std::str::from_utf8(&flipped).unwrap()));
    }

    #[test]
    fn other_prefixes_are_not_ours() {
        for other in [
            "",
            "fwt",
            "ghp_0123456789abcdefghijklmnopqrstuvwxyz",
            "FWT_0123456789_abcdefghijklmnopqrstuvwxyzABCD_4F5Yn8",
            "fwt-0123456789_abcdefghijklmnopqrstuvwxyzABCD_4F5Yn8",
            " fwt_0123456789_abcdefghijklmnopqrstuvwxyzABCD_4F5Yn8",
            "Bearer fwt_0123456789_abcdefghijklmnopqrstuvwxyzABCD_4F5Yn8",
            "eyJhbGciOiJIUzI1NiJ9.e30.abc",
        ] {
            assert_eq!(parse(other).unwrap_err(), TokenError::NotOurs, "{other:?}");
        }
    }

    #[test]
    fn wrong_length_or_characters_are_malformed() {
        let cases = [
            "fwt_".to_owned(),
            GOLDEN[..GOLDEN.len() - 1].to_owned(),
            format!("{GOLDEN}0"),
            format!("{GOLDEN} "),
            format!("{GOLDEN}\n"),
            // A bad character in each part, and misplaced separators.
            GOLDEN.replacen("0123456789", "012345678-", 1),
            GOLDEN.replacen("abc", "a+c", 1),
            GOLDEN.replacen("4F5Yn8", "4F5Yn=", 1),
            GOLDEN.replacen("9_a", "9xa", 1),
            GOLDEN.replacen("D_4", "D.4", 1),
            GOLDEN
                .replacen("0123456789_", "0123456789a", 1)
                .replacen("abcd", "_bcd", 1),
            // Non-ASCII: same number of characters, more bytes; and same number of bytes.
            GOLDEN.replacen('a', "é", 1),
            GOLDEN.replacen("ab", "é", 1),
            // Whitespace inside.
            GOLDEN.replacen('a', " ", 1),
        ];
        for case in &cases {
            assert_ne!(case, GOLDEN);
            assert_eq!(parse(case).unwrap_err(), TokenError::Malformed, "{case:?}");
        }
    }

    #[test]
    fn assemble_rejects_bad_parts() {
        assert_eq!(
            assemble("012345678", "abcdefghijklmnopqrstuvwxyzABCD"),
            Err(TokenError::Malformed)
        );
        assert_eq!(
            assemble("0123456789", "abcdefghijklmnopqrstuvwxyzABC_"),
            Err(TokenError::Malformed)
        );
        assert_eq!(
            assemble("0123456789", "abcdefghijklmnopqrstuvwxyzABCDE"),
            Err(TokenError::Malformed)
        );
    }

    #[test]
    fn changed_secret_character_is_bad_checksum() {
        let issued = issue();
        let mut bytes = issued.token.clone().into_bytes();
        let i = SECRET_START + 7;
        bytes[i] = if bytes[i] == b'x' { b'y' } else { b'x' };
        let changed = String::from_utf8(bytes).unwrap();
        assert_eq!(parse(&changed).unwrap_err(), TokenError::BadChecksum);
        assert!(!verify(&changed, &issued.hash));

        assert_eq!(
            parse(&GOLDEN.replacen("abc", "abd", 1)).unwrap_err(),
            TokenError::BadChecksum
        );
        assert_eq!(
            parse(&GOLDEN.replacen("4F5Yn8", "4F5Yn9", 1)).unwrap_err(),
            TokenError::BadChecksum
        );
        // A checksum digit string above u32::MAX.
        assert_eq!(
            parse(&GOLDEN.replacen("4F5Yn8", "zzzzzz", 1)).unwrap_err(),
            TokenError::BadChecksum
        );
    }

    #[test]
    fn debug_does_not_print_secrets() {
        let issued = issue();
        let debug = format!("{issued:?}");
        assert!(!debug.contains(&issued.token), "{debug}");
        let secret = &issued.token[SECRET_START..SECRET_END];
        assert!(!debug.contains(secret), "{debug}");
        assert!(debug.contains(&issued.lookup));
        assert!(debug.contains("<redacted>"));

        let parsed = parse(&issued.token).unwrap();
        let debug = format!("{parsed:?} {:#?}", parsed);
        assert!(!debug.contains(parsed.secret), "{debug}");
        assert!(debug.contains(parsed.lookup));
    }

    #[test]
    fn errors_display() {
        assert!(TokenError::NotOurs.to_string().contains("fwt_"));
        assert_eq!(TokenError::Malformed.to_string(), "malformed worker token");
        assert!(TokenError::BadChecksum.to_string().contains("checksum"));
    }
}

//! Properties of the worker token format.
//!
//! The central one: **any single-character change to a valid token is rejected by `parse`**
//! (substitution by any other character, from the token alphabet or outside it, deletion,
//! insertion), so a mistyped token never costs a database query.

use std::borrow::Cow;
use std::collections::HashSet;
use std::ops::RangeInclusive;

use proptest::prelude::*;
use worker_token::token::{
    self, ALPHABET, CHECKSUM_LEN, LOOKUP_LEN, SECRET_LEN, TOKEN_LEN, TOKEN_PREFIX, TokenError,
};

/// Every character a token is made of: base62 and `_` (the prefix letters are base62).
fn token_alphabet() -> Vec<char> {
    ALPHABET
        .iter()
        .map(|&b| char::from(b))
        .chain(['_'])
        .collect()
}

/// Characters outside the token alphabet, including multi-byte ones and look-alikes.
const OUTSIDE: &[char] = &[
    '\0', ' ', '\t', '\n', '-', '+', '/', '=', '.', '~', '$', '%', '\u{7f}', 'é', 'ß', 'О', 'І',
    '\u{200b}', '\u{feff}', '０', '＿', '𝟎', '😀',
];

/// Every `char` that is not in the token alphabet (`0-9`, `A-Z`, `_`, `a-z`).
static OUTSIDE_RANGES: [RangeInclusive<char>; 5] =
    ['\0'..='/', ':'..='@', '['..='^', '`'..='`', '{'..=char::MAX];

/// Valid tokens built from arbitrary parts (deterministic, so failures shrink and replay).
fn valid_token() -> impl Strategy<Value = String> {
    let lookup = proptest::string::string_regex(&format!("[0-9A-Za-z]{{{LOOKUP_LEN}}}")).unwrap();
    let secret = proptest::string::string_regex(&format!("[0-9A-Za-z]{{{SECRET_LEN}}}")).unwrap();
    (lookup, secret).prop_map(|(l, s)| token::assemble(&l, &s).unwrap())
}

/// Replaces the character at `index` (all token characters are ASCII, so index = byte).
fn substitute(token: &str, index: usize, with: char) -> String {
    let mut out = String::with_capacity(token.len() + 4);
    out.push_str(&token[..index]);
    out.push(with);
    out.push_str(&token[index + 1..]);
    out
}

/// The error a substitution at `index` by another *token-alphabet* character must give.
fn expected_error(index: usize, with: char) -> TokenError {
    let lookup_end = TOKEN_PREFIX.len() + LOOKUP_LEN;
    let secret_end = lookup_end + 1 + SECRET_LEN;
    if index < TOKEN_PREFIX.len() {
        TokenError::NotOurs
    } else if index == lookup_end || index == secret_end || with == '_' {
        // A separator replaced, or a `_` where a digit must be.
        TokenError::Malformed
    } else {
        // Lookup, secret or checksum digit replaced by another digit.
        TokenError::BadChecksum
    }
}

/// Checks every substitution (alphabet and outside), deletion and insertion of `token`.
fn assert_every_single_change_rejected(token: &str) -> Result<(), TestCaseError> {
    prop_assert!(token::parse(token).is_ok());
    let alphabet = token_alphabet();
    for (index, original) in token.char_indices() {
        for &with in alphabet.iter().filter(|&&c| c != original) {
            let changed = substitute(token, index, with);
            prop_assert_eq!(
                token::parse(&changed).err(),
                Some(expected_error(index, with)),
                "{} -> {}",
                token,
                changed
            );
        }
        for &with in OUTSIDE {
            let changed = substitute(token, index, with);
            prop_assert!(
                token::parse(&changed).is_err(),
                "{} -> {:?}",
                token,
                changed
            );
        }
        let mut deleted = token.to_owned();
        deleted.remove(index);
        prop_assert!(token::parse(&deleted).is_err(), "{} -> {}", token, deleted);
    }
    for index in 0..=token.len() {
        for &with in alphabet.iter().chain(OUTSIDE) {
            let mut inserted = token.to_owned();
            inserted.insert(index, with);
            prop_assert!(
                token::parse(&inserted).is_err(),
                "{} -> {:?}",
                token,
                inserted
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    /// One random substitution by another token-alphabet character: rejected, with exactly
    /// the expected error (so the CRC catches every in-alphabet substitution, including in
    /// the checksum part itself).
    #[test]
    fn substitution_within_alphabet_is_rejected(
        token in valid_token(),
        index in 0..TOKEN_LEN,
        pick in 0..62usize,
    ) {
        let alphabet = token_alphabet();
        let original = char::from(token.as_bytes()[index]);
        // 63 characters minus the original one: pick among the 62 others.
        let others: Vec<char> = alphabet.into_iter().filter(|&c| c != original).collect();
        prop_assert_eq!(others.len(), 62);
        let with = others[pick];
        let changed = substitute(&token, index, with);
        prop_assert_eq!(token::parse(&changed).err(), Some(expected_error(index, with)));
    }

    /// One random substitution by any character not in the token alphabet.
    #[test]
    fn substitution_outside_alphabet_is_rejected(
        token in valid_token(),
        index in 0..TOKEN_LEN,
        with in proptest::char::ranges(Cow::Borrowed(&OUTSIDE_RANGES)),
    ) {
        let changed = substitute(&token, index, with);
        prop_assert!(token::parse(&changed).is_err(), "{:?}", changed);
    }

    /// Deleting any one character.
    #[test]
    fn deletion_is_rejected(token in valid_token(), index in 0..TOKEN_LEN) {
        let mut changed = token.clone();
        changed.remove(index);
        prop_assert!(token::parse(&changed).is_err(), "{}", changed);
    }

    /// Inserting any character anywhere.
    #[test]
    fn insertion_is_rejected(
        token in valid_token(),
        index in 0..=TOKEN_LEN,
        with in any::<char>(),
    ) {
        let mut changed = token.clone();
        changed.insert(index, with);
        prop_assert!(token::parse(&changed).is_err(), "{:?}", changed);
    }

    /// Swapping two adjacent different characters (a common typo) is rejected too.
    #[test]
    fn adjacent_transposition_is_rejected(token in valid_token(), index in 0..TOKEN_LEN - 1) {
        let mut bytes = token.clone().into_bytes();
        // Equal neighbours swap to the same token (no rejection, so no global reject limit).
        let same = bytes[index] == bytes[index + 1];
        bytes.swap(index, index + 1);
        let changed = String::from_utf8(bytes).unwrap();
        prop_assert_eq!(token::parse(&changed).is_ok(), same, "{}", changed);
    }

    /// Building then parsing gives the parts back.
    #[test]
    fn assemble_then_parse_round_trips(
        lookup in "[0-9A-Za-z]{10}",
        secret in "[0-9A-Za-z]{30}",
    ) {
        let token = token::assemble(&lookup, &secret).unwrap();
        prop_assert_eq!(token.len(), TOKEN_LEN);
        let parsed = token::parse(&token).unwrap();
        prop_assert_eq!(parsed.lookup, lookup.as_str());
        prop_assert_eq!(parsed.secret, secret.as_str());
        prop_assert_eq!(&token[token.len() - CHECKSUM_LEN - 1..token.len() - CHECKSUM_LEN], "_");
    }

    /// `parse` never panics, on any string at all.
    #[test]
    fn parse_never_panics_on_any_string(s in any::<String>()) {
        let _ = token::parse(&s);
    }

    /// ... nor on strings shaped almost like tokens (reaching the deeper checks), and accepts
    /// one only if its checksum is right.
    #[test]
    fn parse_never_panics_on_near_tokens(
        s in "fwt_[0-9A-Za-z_é\u{0}-]{0,60}",
    ) {
        if let Ok(parsed) = token::parse(&s) {
            let rebuilt = token::assemble(parsed.lookup, parsed.secret).unwrap();
            prop_assert_eq!(rebuilt, s);
        }
    }

    /// `verify` is true only for the token whose hash it is.
    #[test]
    fn verify_matches_only_own_hash(a in valid_token(), b in valid_token()) {
        prop_assert!(token::verify(&a, &token::hash(&a)));
        prop_assert_eq!(token::verify(&a, &token::hash(&b)), a == b);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Exhaustive over each token: every position × every other alphabet character, the
    /// outside characters, every deletion and every insertion (≈ 3,300 substitutions,
    /// 52 deletions and ≈ 4,600 insertions per token).
    #[test]
    fn every_single_change_of_a_token_is_rejected(token in valid_token()) {
        assert_every_single_change_rejected(&token)?;
    }
}

/// The same exhaustive check on tokens from the real `issue()`.
#[test]
fn every_single_change_of_issued_tokens_is_rejected() {
    for _ in 0..64 {
        let issued = token::issue();
        assert_every_single_change_rejected(&issued.token).unwrap();
    }
}

/// Two issued tokens never share a lookup id or a token (probabilistic: 5,000 tokens; a
/// lookup collision has probability ≈ 2·10⁻¹¹ here).
#[test]
fn issued_tokens_are_unique() {
    const N: usize = 5000;
    let mut lookups = HashSet::with_capacity(N);
    let mut tokens = HashSet::with_capacity(N);
    let mut hashes = HashSet::with_capacity(N);
    for _ in 0..N {
        let issued = token::issue();
        assert!(lookups.insert(issued.lookup.clone()), "lookup repeated");
        assert!(tokens.insert(issued.token.clone()), "token repeated");
        assert!(hashes.insert(issued.hash.clone()), "hash repeated");
    }
}

/// The random characters are spread over the whole alphabet, about evenly (a broken
/// sampler — a missing digit, a bias from `% 62` without rejection — would show here).
/// 2,000 tokens give 60,000 secret and 20,000 lookup characters: ≈ 1,290 per digit,
/// σ ≈ 35; the bounds are about ±8σ.
#[test]
fn issued_secrets_use_the_whole_alphabet_evenly() {
    let mut counts = [0usize; 62];
    for _ in 0..2000 {
        let issued = token::issue();
        let parsed = token::parse(&issued.token).unwrap();
        for b in parsed.secret.bytes().chain(parsed.lookup.bytes()) {
            let index = ALPHABET.iter().position(|&a| a == b).unwrap();
            counts[index] += 1;
        }
    }
    for (index, &count) in counts.iter().enumerate() {
        assert!(
            (1000..=1600).contains(&count),
            "digit {:?} appeared {count} times",
            char::from(ALPHABET[index])
        );
    }
}

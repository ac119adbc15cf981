//! Feeds arbitrary bytes to `worker_token::token::parse`, the offline check the
//! authenticator runs on every `Authorization: Bearer …` credential before any database
//! query.
//!
//! The property is that every input gets an answer (a panic here would be reachable by any
//! unauthenticated request), and that an accepted token is exactly the one its parts
//! assemble to, so the lookup id the database is queried with comes from a well-formed token.
//!
//! Shared by the libFuzzer binary (`fuzz_targets/token_parse.rs`) and the test suite's short
//! smoke run; it panics when the property does not hold.

use worker_token::token::{self, LOOKUP_LEN, SECRET_LEN, TOKEN_LEN, TOKEN_PREFIX, TokenError};

/// Checks the target's property on one input.
pub(crate) fn check(data: &[u8]) {
    // The header value may be any string; lossy conversion keeps non-UTF-8 inputs useful.
    let text = String::from_utf8_lossy(data);
    match token::parse(&text) {
        Ok(parsed) => {
            assert_eq!(text.len(), TOKEN_LEN);
            assert_eq!(parsed.lookup.len(), LOOKUP_LEN);
            assert_eq!(parsed.secret.len(), SECRET_LEN);
            let rebuilt = token::assemble(parsed.lookup, parsed.secret)
                .expect("the parts of a parsed token are valid");
            assert_eq!(
                rebuilt, *text,
                "a parsed token is what its parts assemble to"
            );
            assert!(token::verify(&text, &token::hash(&text)));
        }
        Err(TokenError::NotOurs) => assert!(!text.starts_with(TOKEN_PREFIX)),
        Err(e) => {
            assert!(text.starts_with(TOKEN_PREFIX));
            let _ = e.to_string();
        }
    }
    // The lookup and secret alone go through `assemble`, whose output must always parse.
    if let Some((lookup, secret)) = text.split_once('_')
        && let Ok(assembled) = token::assemble(lookup, secret)
    {
        let parsed = token::parse(&assembled).expect("an assembled token parses");
        assert_eq!(parsed.lookup, lookup);
        assert_eq!(parsed.secret, secret);
    }
}

//! Feeds arbitrary UTF-8 to the migration checker in both dialects.
//!
//! The property is that every input gets an answer: a panic (libfuzzer-sys turns one into an
//! abort, even on the checker's parser thread), a stack overflow or a hang is a finding.

#![no_main]

use flovyn_naming::sql::{Dialect, check_migration, created_tables};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(sql) = std::str::from_utf8(data) else {
        return;
    };
    for dialect in [Dialect::Postgres, Dialect::Sqlite] {
        if let Err(violations) = check_migration("worker-token", sql, dialect) {
            assert!(!violations.is_empty(), "an error must carry a violation");
            for violation in &violations {
                // Rendering is part of the contract too.
                let _ = violation.to_string();
            }
        }
        let _ = created_tables(sql, dialect);
    }
});

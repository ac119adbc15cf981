//! Feeds arbitrary UTF-8 to the migration checker in both dialects.
//!
//! The property is that every input gets an answer: a panic (libfuzzer-sys turns one into an
//! abort, even on the checker's parser thread), a stack overflow or a hang is a finding.
//!
//! Shared by the libFuzzer binary (`fuzz_targets/check_migration.rs`) and the test suite's short
//! smoke run; it panics when the property does not hold.

use flovyn_naming::sql::{Dialect, check_migration, created_tables};

/// Checks the target's property on one input.
pub(crate) fn check(data: &[u8]) {
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
}

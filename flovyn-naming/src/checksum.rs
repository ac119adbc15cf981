//! Migration checksums: a fingerprint of a migration's exact text.
//!
//! The server stores the checksum in its migration ledger when it applies a migration and
//! compares it on every later start, so an applied migration that was edited afterwards is
//! noticed instead of silently diverging between databases. This module owns only the
//! fingerprint; what to do on a mismatch is the server's decision.

use sha2::{Digest, Sha256};

/// SHA-256 of the migration's exact bytes, as 64 lowercase hex digits.
///
/// Nothing is normalized: changing any byte, including whitespace, a comment or a line
/// ending, changes the checksum. Normalizing would let two different files share a ledger
/// entry, and the macros and the server hash the same `include_str!`-ed text anyway.
///
/// ```
/// use flovyn_naming::checksum::checksum;
///
/// assert_eq!(
///     checksum(""),
///     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
/// );
/// assert_ne!(checksum("SELECT 1;"), checksum("SELECT 1; -- note"));
/// ```
pub fn checksum(sql: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(sql.as_bytes());
    let mut out = String::with_capacity(digest.len() * 2);
    for byte in digest {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_known_sha256_vectors() {
        assert_eq!(
            checksum("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn is_64_lowercase_hex_digits() {
        let sum = checksum("CREATE TABLE p_hello__greetings (id INT);");
        assert_eq!(sum.len(), 64);
        assert!(
            sum.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
    }

    #[test]
    fn changes_with_any_byte() {
        let base = "CREATE TABLE p_hello__greetings (id INT);\n";
        let variants = [
            "CREATE TABLE p_hello__greetings (id INT);",
            "CREATE TABLE p_hello__greetings (id INT);\r\n",
            "CREATE TABLE p_hello__greetings (id INT); -- why\n",
            "create TABLE p_hello__greetings (id INT);\n",
        ];
        for variant in variants {
            assert_ne!(checksum(base), checksum(variant), "{variant:?}");
        }
        assert_eq!(checksum(base), checksum(base));
    }
}

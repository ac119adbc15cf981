//! Small helpers for quoting user input inside error messages.
//!
//! Owns only presentation: nothing here decides whether a name is valid.

/// Longest quoted input, in characters, before it is cut with `…`.
///
/// Error messages quote what the author wrote; a fuzzer or a pasted file can make that
/// arbitrarily long, and a diagnostic should stay readable.
pub(crate) const MAX_QUOTED_CHARS: usize = 80;

/// Cuts `text` to at most `max` characters, the last one being `…` when something was cut.
pub(crate) fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_owned(),
        Some(_) => {
            let keep = max.saturating_sub(1);
            let end = text.char_indices().nth(keep).map_or(text.len(), |(i, _)| i);
            format!("{}…", &text[..end])
        }
    }
}

/// [`shorten`] with the default limit, for names and paths quoted in messages.
pub(crate) fn quoted(text: &str) -> String {
    shorten(text, MAX_QUOTED_CHARS)
}

/// Collapses runs of whitespace to one space and trims, then [`shorten`]s: a statement
/// spread over many lines is quoted on one.
pub(crate) fn one_line(text: &str, max: usize) -> String {
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    shorten(&collapsed, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorten_keeps_text_that_fits() {
        assert_eq!(shorten("abc", 3), "abc");
        assert_eq!(shorten("", 3), "");
    }

    #[test]
    fn shorten_cuts_on_char_boundaries() {
        assert_eq!(shorten("abcd", 3), "ab…");
        assert_eq!(shorten("ééééé", 4), "ééé…");
        assert_eq!(shorten("abcd", 0), "…");
    }

    #[test]
    fn one_line_collapses_whitespace() {
        assert_eq!(
            one_line("  CREATE TABLE\n\tt (\n a int )  ", 80),
            "CREATE TABLE t ( a int )"
        );
    }
}

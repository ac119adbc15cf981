//! Splitting a migration script into statements, each with the source text it came from.
//!
//! Owns tokenizing and parsing. Deciding whether a parsed statement is allowed is
//! [`super::rules`]'s job; this module only recognizes, for statements that sqlparser cannot
//! parse at all, the few leading keywords that are forbidden anyway, so the author gets the
//! real reason instead of a syntax error.

use sqlparser::ast::Statement;
use sqlparser::dialect::{self, Dialect as SqlDialect};
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};

use super::Dialect;

/// A script split into statements, up to the first one that does not parse.
#[derive(Debug)]
pub(super) struct Script {
    pub(super) statements: Vec<Scanned>,
    pub(super) failure: Option<Failure>,
}

/// One statement, numbered from 0 in script order.
#[derive(Debug)]
pub(super) struct Scanned {
    pub(super) index: usize,
    pub(super) text: String,
    pub(super) item: Item,
}

#[derive(Debug)]
pub(super) enum Item {
    Parsed(Box<Statement>),
    /// Did not parse, but starts with a forbidden statement kind (e.g. `PRAGMA`, `DO`).
    ForbiddenUnparsed(&'static str),
}

/// The statement that stopped the scan, with the parser's message.
#[derive(Debug)]
pub(super) struct Failure {
    pub(super) index: usize,
    pub(super) text: String,
    pub(super) message: String,
}

/// Splits `sql` into statements in `dialect`.
///
/// Stops at the first statement that neither parses nor starts with a known forbidden
/// keyword: after a syntax error the parser cannot know where the broken statement ends (a
/// trigger body has `;` inside it), so anything further would be guesswork.
pub(super) fn scan(sql: &str, dialect: Dialect) -> Script {
    match dialect {
        Dialect::Postgres => scan_in(sql, &dialect::PostgreSqlDialect {}),
        Dialect::Sqlite => scan_in(sql, &dialect::SQLiteDialect {}),
    }
}

fn scan_in(sql: &str, dialect: &dyn SqlDialect) -> Script {
    match tokenize(sql, dialect) {
        Ok(tokens) => parse_tokens(sql, tokens, dialect),
        Err(error) => {
            // The tokenizer fails for the whole script; keep the complete statements before
            // the error so their violations are still reported.
            let mut positions = Positions::new(sql);
            let at = positions.offset(error.location).unwrap_or(sql.len());
            let cut = tokenize(&sql[..at], dialect)
                .ok()
                .and_then(|tokens| {
                    let mut positions = Positions::new(&sql[..at]);
                    tokens
                        .iter()
                        .rev()
                        .find(|t| t.token == Token::SemiColon)
                        .and_then(|t| positions.offset(t.span.end))
                })
                .unwrap_or(0);
            let mut script = match tokenize(&sql[..cut], dialect) {
                Ok(tokens) => parse_tokens(&sql[..cut], tokens, dialect),
                Err(_) => Script {
                    statements: Vec::new(),
                    failure: None,
                },
            };
            if script.failure.is_none() {
                script.failure = Some(Failure {
                    index: script.statements.len(),
                    text: until_semicolon(&sql[cut..]).to_owned(),
                    message: error.to_string(),
                });
            }
            script
        }
    }
}

fn tokenize(
    sql: &str,
    dialect: &dyn SqlDialect,
) -> Result<Vec<TokenWithSpan>, sqlparser::tokenizer::TokenizerError> {
    Tokenizer::new(dialect, sql)
        .with_unescape(true)
        .tokenize_with_location()
}

fn parse_tokens(sql: &str, tokens: Vec<TokenWithSpan>, dialect: &dyn SqlDialect) -> Script {
    let mut positions = Positions::new(sql);
    let mut statements = Vec::new();
    // The parser gets a copy; this one locates statements by token index.
    let mut parser = Parser::new(dialect).with_tokens_with_locations(tokens.clone());
    loop {
        while parser.consume_token(&Token::SemiColon) {}
        let first = parser.peek_token_ref().clone();
        if first.token == Token::EOF {
            break;
        }
        let index = statements.len();
        let first_index = parser.index();
        let start = positions.offset(first.span.start);

        let parsed = parser.parse_statement();
        // Unlike `Parser::parse_statements`, an `END` right after a statement is not taken
        // as the end of the script: `CREATE TABLE t (a int) END; DROP TABLE tenant` must not
        // hide the `DROP`.
        let parsed = parsed.and_then(|statement| {
            let next = parser.peek_token_ref();
            match next.token {
                Token::SemiColon | Token::EOF => Ok(statement),
                _ => parser.expected("end of statement", next.clone()),
            }
        });
        match parsed {
            Ok(statement) => {
                // The parser may stop after whitespace it looked past; the statement ends
                // with the last real token before that.
                let end = tokens[..parser.index().min(tokens.len())]
                    .iter()
                    .rev()
                    .find(|t| !matches!(t.token, Token::Whitespace(_)))
                    .and_then(|t| positions.offset(t.span.end));
                let text = match (start, end) {
                    (Some(start), Some(end)) if start < end => sql[start..end].to_owned(),
                    _ => statement.to_string(),
                };
                statements.push(Scanned {
                    index,
                    text,
                    item: Item::Parsed(Box::new(statement)),
                });
            }
            Err(error) => {
                let rest = &tokens[first_index.min(tokens.len())..];
                // Without a parse, the best guess at the statement's end is the next `;`
                // token (a `;` inside a string or `$$` body is not one).
                let skip = rest
                    .iter()
                    .position(|t| t.token == Token::SemiColon)
                    .unwrap_or(rest.len());
                let end = rest[..skip]
                    .iter()
                    .rev()
                    .find(|t| !matches!(t.token, Token::Whitespace(_) | Token::EOF))
                    .and_then(|t| positions.offset(t.span.end));
                let text = match (start, end) {
                    (Some(start), Some(end)) if start < end => &sql[start..end],
                    (Some(start), _) => until_semicolon(&sql[start..]),
                    (None, _) => "",
                };
                if let Some(what) = forbidden_keyword(rest) {
                    statements.push(Scanned {
                        index,
                        text: text.to_owned(),
                        item: Item::ForbiddenUnparsed(what),
                    });
                    // Resume at that `;`, wherever the failed parse left the parser. Moving
                    // the parser (rather than re-creating it on the rest of the tokens) keeps
                    // a script of many such statements linear.
                    let resume = first_index + skip;
                    while parser.index() < resume {
                        let _ = parser.next_token_no_skip();
                    }
                    while parser.index() > resume {
                        parser.prev_token();
                    }
                    continue;
                }
                return Script {
                    statements,
                    failure: Some(Failure {
                        index,
                        text: text.to_owned(),
                        message: parser_message(error),
                    }),
                };
            }
        }
    }
    Script {
        statements,
        failure: None,
    }
}

/// sqlparser's message without its `sql parser error: ` preamble.
fn parser_message(error: ParserError) -> String {
    match error {
        ParserError::TokenizerError(message) | ParserError::ParserError(message) => message,
        ParserError::RecursionLimitExceeded => {
            "the statement nests too deeply (recursion limit exceeded)".to_owned()
        }
    }
}

/// Statement kinds sqlparser 0.63 cannot parse (or parses only in part) that a migration may
/// not run whatever their syntax; see the list in the module docs of [`super`].
fn forbidden_keyword(tokens: &[TokenWithSpan]) -> Option<&'static str> {
    let mut words = tokens.iter().filter_map(|t| match &t.token {
        Token::Whitespace(_) => None,
        Token::Word(word) => Some(Some(word.keyword)),
        _ => Some(None),
    });
    let first = words.next().flatten()?;
    let second = words.next().flatten();
    match (first, second) {
        (Keyword::PRAGMA, _) => Some("PRAGMA"),
        (Keyword::DO, _) => Some("DO"),
        (Keyword::DETACH, _) => Some("DETACH DATABASE"),
        (Keyword::ATTACH, _) => Some("ATTACH DATABASE"),
        (Keyword::VACUUM, _) => Some("VACUUM"),
        (Keyword::ALTER, Some(Keyword::SYSTEM)) => Some("ALTER SYSTEM"),
        _ => None,
    }
}

/// `text` up to (not including) the first `;`, for quoting a statement that did not parse.
fn until_semicolon(text: &str) -> &str {
    text.split(';').next().unwrap_or(text)
}

/// Converts sqlparser's 1-based (line, column-in-characters) locations to byte offsets.
///
/// Statements are located in script order, so the lookup resumes from the previous answer
/// when it can: a long single-line script stays linear.
struct Positions<'a> {
    text: &'a str,
    line_starts: Vec<usize>,
    last: (Location, usize),
}

impl<'a> Positions<'a> {
    fn new(text: &'a str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self {
            text,
            line_starts,
            last: (Location { line: 1, column: 1 }, 0),
        }
    }

    fn offset(&mut self, at: Location) -> Option<usize> {
        if at.line == 0 || at.column == 0 {
            return None;
        }
        let (from_column, from_byte) =
            if self.last.0.line == at.line && self.last.0.column <= at.column {
                (self.last.0.column, self.last.1)
            } else {
                let line = usize::try_from(at.line - 1).ok()?;
                (1, *self.line_starts.get(line)?)
            };
        let steps = usize::try_from(at.column - from_column).ok()?;
        let mut chars = self.text.get(from_byte..)?.char_indices();
        let byte = if steps == 0 {
            from_byte
        } else {
            match chars.nth(steps - 1) {
                // One past the last stepped-over character.
                Some((i, c)) if c != '\n' => from_byte + i + c.len_utf8(),
                Some(_) | None => return None,
            }
        };
        self.last = (at, byte);
        Some(byte)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(sql: &str) -> Vec<String> {
        scan(sql, Dialect::Postgres)
            .statements
            .into_iter()
            .map(|s| s.text)
            .collect()
    }

    #[test]
    fn keeps_each_statement_text() {
        assert_eq!(
            texts("CREATE TABLE a (x int);\n  SELECT 'é;é' ;; -- c\nSELECT 2"),
            ["CREATE TABLE a (x int)", "SELECT 'é;é'", "SELECT 2"]
        );
        assert_eq!(
            texts("SELECT 1\r\n;\r\nSELECT\r\n 2\r\n"),
            ["SELECT 1", "SELECT\r\n 2"]
        );
    }

    #[test]
    fn does_not_stop_at_end_keyword() {
        let script = scan(
            "CREATE TABLE t (a int) END; DROP TABLE tenant",
            Dialect::Postgres,
        );
        assert!(script.statements.is_empty());
        let failure = script.failure.unwrap();
        assert_eq!(failure.index, 0);
        assert_eq!(failure.text, "CREATE TABLE t (a int) END");
        assert!(
            failure.message.contains("end of statement"),
            "{}",
            failure.message
        );
    }

    #[test]
    fn reports_tokenizer_errors_after_complete_statements() {
        let script = scan("SELECT 1; SELECT 2;\nSELECT 'oops", Dialect::Postgres);
        assert_eq!(script.statements.len(), 2);
        let failure = script.failure.unwrap();
        assert_eq!(failure.index, 2);
        assert_eq!(failure.text, "\nSELECT 'oops");
    }

    #[test]
    fn skips_forbidden_statements_it_cannot_parse() {
        let kinds = |sql: &str, dialect| {
            let script = scan(sql, dialect);
            assert!(script.failure.is_none(), "{sql}");
            script
                .statements
                .iter()
                .map(|s| match &s.item {
                    Item::ForbiddenUnparsed(what) => (*what).to_owned(),
                    Item::Parsed(statement) => statement.to_string(),
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            kinds(
                "PRAGMA foreign_keys = OFF; PRAGMA table_info(t); SELECT 1",
                Dialect::Sqlite
            ),
            ["PRAGMA", "PRAGMA", "SELECT 1"]
        );
        assert_eq!(
            kinds(
                "DO $$ BEGIN x; END $$; ALTER SYSTEM SET a = 1; SELECT 1",
                Dialect::Postgres
            ),
            ["DO", "ALTER SYSTEM", "SELECT 1"]
        );
    }
}

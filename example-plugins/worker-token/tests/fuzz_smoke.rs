//! A few seconds of the `token_parse` fuzz target on every test run (see
//! `flovyn-fuzz-smoke`); the coverage-guided run is `scripts/fuzz 300 token_parse`.

#[path = "../fuzz/checks/token_parse.rs"]
mod token_parse;

#[test]
fn token_parse_smoke() {
    let issued = worker_token::token::issue().token;
    let other = worker_token::token::issue().token;
    let seeds: &[&[u8]] = &[
        issued.as_bytes(),
        other.as_bytes(),
        b"fwt_",
        b"fwt_0123456789_abcdefghijklmnopqrstuvwxyzABCD_000000",
        b"flovyn-admin-token",
        "fwt_\u{e9}\u{e9}\u{e9}".as_bytes(),
    ];
    let dictionary: &[&[u8]] = &[b"fwt_", b"_", b"0", b"Z", b"z", b"\xc3\xa9", b"\xff"];
    let report = flovyn_fuzz_smoke::run("token_parse", seeds, dictionary, token_parse::check);
    assert!(report.inputs > seeds.len() as u64, "{report:?}");
}

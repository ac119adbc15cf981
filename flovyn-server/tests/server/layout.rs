//! The source layout keeps its promises: no import circles in `flovyn-server` or `flovyn-sdk`,
//! neither between files nor between the folders of the server (`docs/server.md` shows the
//! layers). Read from the sources: every `crate::…` path (in `use` items and in code) and
//! every `super::…` is an edge from the file that writes it to the module it names.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// `src/http/access.rs` → `http::access`; `src/http/mod.rs` → `http`; `src/lib.rs` → ``.
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts.join("::")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The longest known module that `path` (segments after `crate::`) starts with.
fn resolve(path: &[&str], modules: &BTreeSet<String>) -> Option<String> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].join("::"))
        .find(|m| modules.contains(m))
}

/// The module paths written at the start of `rest` (what follows `crate::`): `a::b::C` is
/// `[a, b]`; `a::{b, c::D}` is `[a, b]` and `[a, c]`.
fn paths(rest: &str) -> Vec<Vec<String>> {
    let ident = |s: &str| -> String {
        s.trim_start()
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .next()
            .unwrap_or("")
            .to_owned()
    };
    let mut prefix = Vec::new();
    let mut rest = rest;
    loop {
        let name = ident(rest);
        if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_lowercase()) {
            return vec![prefix];
        }
        prefix.push(name.clone());
        rest = &rest.trim_start()[name.len()..];
        if let Some(group) = rest.strip_prefix("::{") {
            let inner = group.split('}').next().unwrap_or_default();
            return inner
                .split(',')
                .map(|item| {
                    let mut path = prefix.clone();
                    path.extend(paths(item).into_iter().next().unwrap_or_default());
                    path
                })
                .collect();
        }
        match rest.strip_prefix("::") {
            Some(next) => rest = next,
            None => return vec![prefix],
        }
    }
}

/// Every module → the modules it refers to (itself and its own ancestors left out).
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(src, f)).collect();
    let mut edges = BTreeMap::new();
    for file in &files {
        let module = module_of(src, file);
        let text = std::fs::read_to_string(file).unwrap();
        let mut targets = BTreeSet::new();
        // Comments out; one string, so that `use` groups over several lines are read whole.
        let code: String = text
            .lines()
            .map(|line| line.split("//").next().unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n");
        {
            let code = code.as_str();
            for (i, _) in code.match_indices("crate::") {
                if i > 0
                    && code[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '$')
                {
                    continue;
                }
                let rest = &code[i + "crate::".len()..];
                for path in paths(rest) {
                    let path: Vec<&str> = path.iter().map(String::as_str).collect();
                    if let Some(target) = resolve(&path, &modules) {
                        targets.insert(target);
                    }
                }
            }
            for (i, _) in code.match_indices("super::") {
                if i > 0 && code[..i].ends_with("::") {
                    continue;
                }
                let mut base: Vec<&str> = if module.is_empty() {
                    vec![]
                } else {
                    module.split("::").collect()
                };
                // A `mod.rs` is its folder: its `super` is the folder's parent.
                base.pop();
                let rest: Vec<&str> = code[i + "super::".len()..]
                    .split("::")
                    .map(|s| {
                        s.split(|c: char| !(c.is_alphanumeric() || c == '_'))
                            .next()
                            .unwrap_or("")
                    })
                    .take_while(|s| {
                        !s.is_empty() && s.starts_with(|c: char| c.is_ascii_lowercase())
                    })
                    .collect();
                let full: Vec<&str> = base.iter().copied().chain(rest).collect();
                if let Some(target) = resolve(&full, &modules) {
                    targets.insert(target);
                }
            }
        }
        // A module may name its own items and its ancestors' (the crate root re-exports).
        targets.retain(|t| *t != module && !module.starts_with(&format!("{t}::")) && !t.is_empty());
        edges.insert(module, targets);
    }
    edges
}

fn cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(node) {
            Some(2) => return None,
            Some(1) => {
                let start = path.iter().position(|p| p == node).unwrap();
                let mut found = path[start..].to_vec();
                found.push(node.to_owned());
                return Some(found);
            }
            _ => {}
        }
        state.insert(node.to_owned(), 1);
        path.push(node.to_owned());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, edges, state, path) {
                return Some(found);
            }
        }
        path.pop();
        state.insert(node.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in edges.keys() {
        if let Some(found) = visit(node, edges, &mut state, &mut Vec::new()) {
            return Some(found);
        }
    }
    None
}

/// The folder-level graph: each module counted as its top-level module.
fn folders(edges: &BTreeMap<String, BTreeSet<String>>) -> BTreeMap<String, BTreeSet<String>> {
    let top = |m: &str| m.split("::").next().unwrap_or_default().to_owned();
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, targets) in edges {
        let entry = out.entry(top(from)).or_default();
        entry.extend(targets.iter().map(|t| top(t)).filter(|t| *t != top(from)));
    }
    out
}

fn src(krate: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(krate)
        .join("src")
}

#[test]
fn the_server_has_no_import_circles_between_files_or_folders() {
    let edges = graph(&src("flovyn-server"));
    // The reading works: a few edges the server is known to have.
    for (from, to) in [
        ("startup", "host"),
        ("http::access", "host::routes"),
        ("router", "api::admin"),
    ] {
        assert!(
            edges[from].contains(to),
            "{from} → {to} not seen: {:?}",
            edges[from]
        );
    }
    assert_eq!(cycle(&edges), None, "an import circle between files");
    assert_eq!(
        cycle(&folders(&edges)),
        None,
        "an import circle between folders"
    );
}

#[test]
fn the_sdk_has_no_import_circles() {
    let edges = graph(&src("flovyn-sdk"));
    assert!(
        edges["host::linked"].contains("openapi"),
        "{:?}",
        edges["host::linked"]
    );
    assert_eq!(cycle(&edges), None, "an import circle between files");
}

#[test]
fn the_checker_finds_a_circle() {
    let mut edges = BTreeMap::new();
    edges.insert("a".to_owned(), BTreeSet::from(["b::c".to_owned()]));
    edges.insert("b::c".to_owned(), BTreeSet::from(["d".to_owned()]));
    edges.insert("d".to_owned(), BTreeSet::from(["a".to_owned()]));
    assert_eq!(
        cycle(&edges),
        Some(vec!["a".into(), "b::c".into(), "d".into(), "a".into()])
    );
    assert_eq!(
        cycle(&folders(&edges)),
        Some(vec!["a".into(), "b".into(), "d".into(), "a".into()])
    );
    edges.remove("d");
    assert_eq!(cycle(&edges), None);
}

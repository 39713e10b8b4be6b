//! The module structure promised in docs/architecture.md, read from the source: in each
//! checked crate every file opens with a `//!` comment saying what it holds, and no two files
//! import each other, directly or around a loop (`use crate::a::..` and `crate::a::..` paths in
//! code, comments left out; a `crate::Name` that lib.rs re-exports counts as the module it comes
//! from).
#![allow(clippy::unwrap_used, clippy::expect_used)] // Test helpers: a panic fails the test.
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The crates whose modules must form no loop, relative to this crate's manifest directory.
const CRATES: &[&str] = &[
    ".",
    "../necro-backend-memory",
    "../necro-backend-redis",
    "../necro-spine",
    "../necro-observe",
    "../necro-macros",
    "../necro-testkit",
    "../necro-cli",
];

/// How long a library file may be outside its `#[cfg(test)] mod tests`.
const MAX_LINES: usize = 600;

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// The module a source file is (`a/b.rs` and `a/b/mod.rs` are `a::b`; lib.rs is the root, "").
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("a file under src/");
    let mut parts: Vec<String> = rel
        .with_extension("")
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts.join("::")
}

/// The text without comments (line comments, doc comments included, and block comments).
fn code(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let line = match line.find("//") {
            // A `//` inside a string literal is rare enough in these crates to be cut too.
            Some(at) => &line[..at],
            None => line,
        };
        out.push_str(line);
        out.push('\n');
    }
    while let Some(start) = out.find("/*") {
        let end = out[start..].find("*/").map_or(out.len(), |e| start + e + 2);
        out.replace_range(start..end, " ");
    }
    out
}

fn ident_at(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// Every path that follows `crate::` in `code`, as written up to its first non-path character
/// (`crate::{a::X, b}` gives `a::X` and `b`).
fn crate_paths(code: &str) -> Vec<String> {
    let mut paths = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // e.g. `my_crate::`
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let end = group
                .char_indices()
                .find(|&(_, c)| {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map_or(group.len(), |(i, _)| i);
            // Only the first segment of each top-level item matters.
            let mut depth = 0;
            let mut item_start = true;
            for (i, c) in group[..end].char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && (c.is_alphanumeric() || c == '_') => {
                        paths.push(ident_at(&group[i..]).to_owned());
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(rest.len());
            paths.push(rest[..end].trim_end_matches(':').to_owned());
        }
    }
    paths
}

/// lib.rs's `pub use module::{..}` re-exports: item name -> module.
fn reexports(lib_code: &str, modules: &BTreeSet<String>) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for stmt in lib_code.split(';') {
        let Some(used) = stmt.trim().strip_prefix("pub use ") else {
            continue;
        };
        let module = ident_at(used);
        if !modules.contains(module) {
            continue;
        }
        for name in used[module.len()..]
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .filter(|n| !n.is_empty())
        {
            map.insert(name.to_owned(), module.to_owned());
        }
    }
    map
}

/// The module of `modules` that `path` (as after `crate::`) points into, if any.
fn target(
    path: &str,
    modules: &BTreeSet<String>,
    reexports: &BTreeMap<String, String>,
) -> Option<String> {
    let segments: Vec<&str> = path.split("::").collect();
    (1..=segments.len())
        .rev()
        .map(|n| segments[..n].join("::"))
        .find(|m| modules.contains(m))
        .or_else(|| reexports.get(segments[0]).cloned())
}

/// A loop in `graph`, as the modules along it, if there is one.
fn find_loop(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if !done.insert(node.to_owned()) {
            return None;
        }
        stack.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, stack, done) {
                return Some(cycle);
            }
        }
        stack.pop();
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn every_file_says_what_it_holds_stays_small_and_no_two_files_import_each_other() {
    let mut problems = Vec::new();
    for krate in CRATES {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(krate);
        let name = dir
            .canonicalize()
            .ok()
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| (*krate).to_owned());
        let src = dir.join("src");
        let mut files = Vec::new();
        sources(&src, &mut files);
        assert!(!files.is_empty(), "no sources under {}", src.display());
        let texts: Vec<(String, String)> = files
            .iter()
            .map(|f| {
                let text = fs::read_to_string(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
                (module_of(&src, f), text)
            })
            .collect();
        let modules: BTreeSet<String> = texts.iter().map(|(m, _)| m.clone()).collect();
        let lib = texts
            .iter()
            .find(|(m, _)| m.is_empty())
            .map(|(_, t)| code(t))
            .unwrap_or_default();
        let reexports = reexports(&lib, &modules);
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (module, text) in &texts {
            let shown = if module.is_empty() { "lib" } else { module };
            if !text.trim_start().starts_with("//!") {
                problems.push(format!(
                    "{name}: {shown}: does not open with a `//!` comment"
                ));
            }
            // Outside its unit tests, a file holds one concept: about 600 lines at most.
            let library = text.split("#[cfg(test)]\nmod tests").next().unwrap_or(text);
            let lines = library.lines().count();
            if lines > MAX_LINES {
                problems.push(format!(
                    "{name}: {shown}: {lines} lines outside its tests (at most {MAX_LINES})"
                ));
            }
            if module.is_empty() {
                continue; // the root declares and re-exports every module
            }
            let edges = graph.entry(module.clone()).or_default();
            for path in crate_paths(&code(text)) {
                if let Some(to) = target(&path, &modules, &reexports)
                    && to != *module
                    && !to.is_empty()
                {
                    edges.insert(to);
                }
            }
        }
        if let Some(cycle) = find_loop(&graph) {
            problems.push(format!("{name}: import loop: {}", cycle.join(" -> ")));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_reader_sees_grouped_imports_reexports_and_loops() {
    let text = "//! x\nuse crate::{a::X, b::{Y, Z}};\n// use crate::c::W;\nfn f() { crate::d::g(); crate::Thing::new(); }";
    assert_eq!(crate_paths(&code(text)), ["a", "b", "d::g", "Thing::new"]);
    let modules: BTreeSet<String> = ["a", "b", "d"].map(String::from).into();
    let re = reexports("pub use a::{Thing, Other}; pub use serde_json", &modules);
    assert_eq!(target("Thing::new", &modules, &re).as_deref(), Some("a"));
    assert_eq!(target("d::g", &modules, &re).as_deref(), Some("d"));
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_owned(), ["b".to_owned()].into()),
        ("b".to_owned(), ["d".to_owned()].into()),
        ("d".to_owned(), ["a".to_owned()].into()),
    ]
    .into();
    assert_eq!(find_loop(&graph).unwrap(), ["a", "b", "d", "a"]);
    let mut acyclic = graph.clone();
    acyclic.get_mut("d").unwrap().clear();
    assert_eq!(find_loop(&acyclic), None);
}

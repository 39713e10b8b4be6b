//! Tests of the crate's source layout: each file opens with a `//!` comment saying what it
//! holds, stays under 600 lines outside its `#[cfg(test)]` module, and the `use crate::…`
//! graph between files has no cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Every `src/*.rs` file: its module name and text.
fn sources() -> BTreeMap<String, String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).expect("read src/") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|e| e == "rs") {
            let name = path
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("a UTF-8 file name")
                .to_owned();
            let text = std::fs::read_to_string(&path).expect("read source file");
            files.insert(name, text);
        }
    }
    assert!(
        files.len() >= 10,
        "only {} source files in {dir:?}",
        files.len()
    );
    files
}

/// The part of a file before its `#[cfg(test)]` module.
fn library_part(text: &str) -> &str {
    text.find("\n#[cfg(test)]\nmod ")
        .map_or(text, |i| &text[..i])
}

/// The crate modules a file uses: `crate::NAME` outside comments, `NAME` a module file.
fn imports(text: &str, modules: &BTreeSet<&str>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in library_part(text).lines() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        for (i, _) in code.match_indices("crate::") {
            let rest = &code[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            if modules.contains(name.as_str()) {
                out.insert(name);
            }
        }
    }
    out
}

#[test]
fn every_file_says_what_it_holds_and_stays_small() {
    for (name, text) in sources() {
        assert!(
            text.starts_with("//!"),
            "{name}.rs does not open with a `//!` comment"
        );
        let lines = library_part(&text).lines().count();
        assert!(
            lines <= 600,
            "{name}.rs has {lines} lines outside its tests (at most 600)"
        );
    }
}

#[test]
fn no_two_files_import_each_other() {
    let files = sources();
    let modules: BTreeSet<&str> = files
        .keys()
        .map(String::as_str)
        .filter(|m| *m != "lib")
        .collect();
    let graph: BTreeMap<&str, BTreeSet<String>> = files
        .iter()
        .filter(|(name, _)| name.as_str() != "lib")
        .map(|(name, text)| {
            let mut deps = imports(text, &modules);
            deps.remove(name.as_str());
            (name.as_str(), deps)
        })
        .collect();
    // Depth-first search for a cycle, reporting the path that closes it.
    fn visit<'a>(
        node: &'a str,
        graph: &'a BTreeMap<&'a str, BTreeSet<String>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) {
        if done.contains(node) {
            return;
        }
        if let Some(at) = path.iter().position(|n| *n == node) {
            panic!("import cycle: {} -> {node}", path[at..].join(" -> "));
        }
        path.push(node);
        for dep in graph.get(node).into_iter().flatten() {
            visit(dep, graph, path, done);
        }
        path.pop();
        done.insert(node);
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        visit(node, &graph, &mut Vec::new(), &mut done);
    }
    assert!(
        graph["builder"].contains("spine") && !graph["spine"].contains("builder"),
        "builder.rs builds on spine.rs, not the other way round: {graph:?}"
    );
}

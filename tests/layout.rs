//! The layout rules of `src/`: no file has more than 600 lines of code before its tests, only
//! `build.rs` includes files by path, and no two files import each other (a child module may
//! use its parent's items, as Rust modules do; siblings and unrelated files never both ways).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const MOST_LINES: usize = 600;

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

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The code of a file before its unit tests.
fn code(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    match text.find("#[cfg(test)]") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

#[test]
fn no_file_of_src_has_more_than_600_lines_of_code_before_its_tests() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    assert!(files.len() > 50, "{} files", files.len());
    let long: Vec<String> = files
        .iter()
        .map(|f| (f, code(f).lines().count()))
        .filter(|(_, n)| *n > MOST_LINES)
        .map(|(f, n)| format!("{}: {n}", f.display()))
        .collect();
    assert!(long.is_empty(), "longer than {MOST_LINES} lines: {long:?}");
}

#[test]
fn only_build_rs_includes_files_by_path() {
    let mut files = Vec::new();
    for dir in ["src", "tests", "benches", "examples"] {
        rust_files(&root().join(dir), &mut files);
    }
    let marker = concat!("#[", "path");
    let including: Vec<_> = files
        .iter()
        .filter(|f| std::fs::read_to_string(f).unwrap().contains(marker))
        .collect();
    assert!(including.is_empty(), "{including:?}");
    assert!(std::fs::read_to_string(root().join("build.rs"))
        .unwrap()
        .contains(marker));
}

/// A file's module path: `src/bulk/engine.rs` is `bulk::engine`, `src/bulk/mod.rs` is `bulk`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The modules of the crate a `use` names, resolved from the module it is in.
fn used_modules(me: &[String], path: &str, modules: &BTreeSet<Vec<String>>) -> Vec<Vec<String>> {
    let path: String = path.split_whitespace().collect();
    let (mut base, mut rest) = if let Some(rest) = path.strip_prefix("crate::") {
        (Vec::new(), rest.to_owned())
    } else if path.starts_with("super::") {
        let mut base = me.to_vec();
        let mut rest = path.as_str();
        while let Some(r) = rest.strip_prefix("super::") {
            base.pop();
            rest = r;
        }
        (base, rest.to_owned())
    } else if let Some(rest) = path.strip_prefix("self::") {
        (me.to_vec(), rest.to_owned())
    } else {
        let head = path.split(['{', ':']).next().unwrap_or_default().to_owned();
        let mut child = me.to_vec();
        child.push(head);
        if !modules.contains(&child) {
            return Vec::new();
        }
        (me.to_vec(), path.clone())
    };
    let (prefix, group) = match rest.find('{') {
        Some(at) => (
            rest[..at].to_owned(),
            Some(rest[at + 1..].trim_end_matches('}').to_owned()),
        ),
        None => (std::mem::take(&mut rest), None),
    };
    for part in prefix.split("::").filter(|p| !p.is_empty()) {
        let mut next = base.clone();
        next.push(part.to_owned());
        if !modules.contains(&next) {
            break;
        }
        base = next;
    }
    let mut found = vec![base.clone()];
    for item in group.iter().flat_map(|g| g.split(',')) {
        let name = item.split("::").next().unwrap_or_default();
        let name = name.split(" as ").next().unwrap_or_default().trim();
        let mut next = base.clone();
        next.push(name.to_owned());
        if modules.contains(&next) {
            found.push(next);
        }
    }
    found.retain(|m| modules.contains(m) && m.as_slice() != me);
    found
}

#[test]
fn no_two_files_of_src_import_each_other() {
    let src = root().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.retain(|f| !f.starts_with(src.join("bin")));
    let by_module: BTreeMap<Vec<String>, &PathBuf> =
        files.iter().map(|f| (module_of(&src, f), f)).collect();
    let modules: BTreeSet<Vec<String>> = by_module.keys().cloned().collect();
    let mut imports = BTreeSet::new();
    for (me, file) in &by_module {
        let code = code(file);
        for statement in code.split(';') {
            let statement = statement.trim_start();
            // Re-exports are a module's table of contents, not an import.
            let Some(path) = statement.strip_prefix("use ") else {
                continue;
            };
            for used in used_modules(me, path, &modules) {
                imports.insert((me.clone(), used));
            }
        }
    }
    assert!(imports.len() > 100, "{} imports found", imports.len());
    let is_parent = |a: &Vec<String>, b: &Vec<String>| b.len() == a.len() + 1 && b.starts_with(a);
    let both_ways: Vec<String> = imports
        .iter()
        .filter(|(a, b)| a < b && imports.contains(&(b.clone(), a.clone())))
        .filter(|(a, b)| !is_parent(a, b) && !is_parent(b, a))
        .map(|(a, b)| format!("{} <-> {}", by_module[a].display(), by_module[b].display()))
        .collect();
    assert!(both_ways.is_empty(), "{both_ways:?}");
}

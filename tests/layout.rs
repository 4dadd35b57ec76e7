//! The code's layout stays a pipeline: no two source files import each other, directly or
//! through others (a circle means a stage reaches back upstream, and the two can no longer be
//! read, tested or replaced apart). A file's own submodules and its parent module do not count:
//! a parent declares its children, a child may use what its parent re-exports.
//!
//! This reads the sources as text: `crate::a::b` and `super::x` paths outside comments and test
//! modules, resolved to the longest existing module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// `src/a/b.rs` and `src/a/b/mod.rs` are module `a::b`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

/// The source without comments and without its `#[cfg(test)] mod tests` block.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `crate::...` / `super::...` path in `code`, as segments.
fn paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for start in ["crate::", "super::"] {
        let mut rest = code;
        while let Some(i) = rest.find(start) {
            let boundary = i == 0 || !rest.as_bytes()[i - 1].is_ascii_alphanumeric() && rest.as_bytes()[i - 1] != b'_';
            let tail = &rest[i..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(tail.len());
            if boundary {
                out.push(
                    tail[..end]
                        .split("::")
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect(),
                );
            }
            rest = &rest[i + start.len()..];
        }
    }
    out
}

#[test]
fn no_two_source_files_import_each_other() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeMap<Vec<String>, PathBuf> = files.iter().map(|f| (module_of(&src, f), f.clone())).collect();
    let mut graph: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (module, file) in &modules {
        if module.last().is_some_and(|m| m == "tests") {
            continue;
        }
        for path in paths(&code(&std::fs::read_to_string(file).unwrap())) {
            // `super` is the module's parent (a mod.rs file is the module of its directory).
            let mut base = if path[0] == "crate" { Vec::new() } else { module.clone() };
            let mut rest = &path[1..];
            if path[0] == "super" {
                base.pop();
                while rest.first().is_some_and(|s| s == "super") {
                    base.pop();
                    rest = &rest[1..];
                }
            }
            let target = (0..=rest.len()).rev().find_map(|n| {
                let mut m = base.clone();
                m.extend(rest[..n].iter().cloned());
                modules.contains_key(&m).then_some(m)
            });
            let Some(target) = target else { continue };
            // Parents and children do not count.
            if target == *module || target.starts_with(module) || module.starts_with(&target) {
                continue;
            }
            graph.entry(module.clone()).or_default().insert(target);
        }
    }
    let reaches = |from: &Vec<String>, to: &Vec<String>| {
        let mut stack = vec![from.clone()];
        let mut seen = BTreeSet::new();
        while let Some(m) = stack.pop() {
            for n in graph.get(&m).into_iter().flatten() {
                if n == to {
                    return true;
                }
                if seen.insert(n.clone()) {
                    stack.push(n.clone());
                }
            }
        }
        false
    };
    let mut circles = BTreeSet::new();
    for (a, targets) in &graph {
        for b in targets {
            if reaches(b, a) {
                let (x, y) = if a < b { (a, b) } else { (b, a) };
                circles.insert(format!("{} <-> {}", x.join("::"), y.join("::")));
            }
        }
    }
    assert!(graph.len() > 30, "the import graph was read ({} modules)", graph.len());
    assert!(
        circles.is_empty(),
        "files that import each other:\n{}",
        circles.into_iter().collect::<Vec<_>>().join("\n")
    );
}

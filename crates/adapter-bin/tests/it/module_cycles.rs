//! The modules of the `adapter` library form layers, not a knot: no top-level module reaches
//! itself through others. Read from the sources (every `crate::…` and `super::…` path outside
//! comments and strings, `use` or not), so it runs with `cargo test` and needs no tool.
//!
//! On failure it prints the cycles and every module's dependencies. The layers today, bottom
//! up: `backoff`, `telemetry`, `logging`, `encode`; `source`, `runtime`, `checkpointing`;
//! `deliver`; `pipeline`; `settings`; `error`; `adapter`; `cli`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a Rust file without its comments, string and character literals (each replaced
/// by a space).
fn code_only(text: &str) -> String {
    let b: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && !ident_before(&b, i) {
            // A raw string: r"…", r#"…"#, …
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == '"' && (0..hashes).all(|k| b.get(j + 1 + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            i = j;
            out.push(' ');
        } else if c == '"' {
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push(' ');
        } else if c == '\'' {
            // A character literal ('x', '\n'), or a lifetime ('a), which stays.
            if next == Some('\\') {
                i += 2;
                while i < b.len() && b[i] != '\'' {
                    i += 1;
                }
                i += 1;
                out.push(' ');
            } else if b.get(i + 2) == Some(&'\'') {
                i += 3;
                out.push(' ');
            } else {
                out.push(c);
                i += 1;
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_before(b: &[char], i: usize) -> bool {
    i > 0 && (b[i - 1].is_alphanumeric() || b[i - 1] == '_')
}

/// The module path of a file under `src/` (`adapter/vsphere.rs` → `[adapter, vsphere]`).
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

/// The top-level modules the paths in `code` name (`crate::x…`, `crate::{x, y…}`,
/// `super::…` resolved against `module`, the file's module path).
fn dependencies(code: &str, module: &[String]) -> BTreeSet<String> {
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut deps = BTreeSet::new();
    let mut at = 0;
    while let Some(found) = code[at..].find(['c', 's']) {
        let start = at + found;
        at = start + 1;
        if code[..start].ends_with(|c: char| ident(c) || c == ':') {
            continue;
        }
        let mut rest = &code[start..];
        let mut up = 0usize;
        if let Some(r) = rest.strip_prefix("crate::") {
            rest = r;
        } else {
            while let Some(r) = rest.strip_prefix("super::") {
                rest = r;
                up += 1;
            }
            if up == 0 {
                continue;
            }
        }
        // Resolve `super::` against the file's module path (`crate::` is the root).
        if up > module.len() {
            continue;
        }
        let base = if up == 0 {
            &module[..0]
        } else {
            &module[..module.len() - up]
        };
        let rest = rest.trim_start();
        let names: Vec<&str> = match rest.strip_prefix('{') {
            Some(group) => {
                let mut depth = 0;
                let end = group
                    .char_indices()
                    .find(|&(_, c)| {
                        match c {
                            '{' => depth += 1,
                            '}' if depth == 0 => return true,
                            '}' => depth -= 1,
                            _ => {}
                        }
                        false
                    })
                    .map_or(group.len(), |(i, _)| i);
                let mut items = Vec::new();
                let mut depth = 0;
                let mut from = 0;
                for (i, c) in group[..end].char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            items.push(group[from..i].trim());
                            from = i + 1;
                        }
                        _ => {}
                    }
                }
                items.push(group[from..end].trim());
                items
            }
            None => vec![rest],
        };
        for name in names {
            let first: String = name.chars().take_while(|&c| ident(c)).collect();
            let top = base.first().cloned().unwrap_or(first);
            if !top.is_empty() && top != "self" {
                deps.insert(top);
            }
        }
    }
    deps
}

/// The strongly connected components of more than one module (Tarjan).
fn cycles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct State<'g> {
        graph: &'g BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit<'g>(s: &mut State<'g>, v: &'g str) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.graph.get(v).into_iter().flatten() {
            let w = w.as_str();
            if !s.graph.contains_key(w) {
                continue;
            }
            if !s.index.contains_key(w) {
                visit(s, w);
                let low = s.low[v].min(s.low[w]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(w) {
                let low = s.low[v].min(s.index[w]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_owned());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.out.push(component);
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.out
}

/// The dependencies between the library's top-level modules (the binaries are left out: they
/// only call `cli`).
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files {
        let rel = file.strip_prefix(&src).expect("under src");
        if rel.starts_with("bin") {
            continue;
        }
        let module = module_path(rel);
        let Some(top) = module.first().cloned() else {
            continue;
        };
        let code = code_only(&std::fs::read_to_string(&file).expect("read"));
        let deps = dependencies(&code, &module);
        let entry = graph.entry(top.clone()).or_default();
        entry.extend(deps.into_iter().filter(|d| *d != top));
    }
    graph
}

#[test]
fn the_library_modules_have_no_cycle() {
    let graph = module_graph();
    for expected in [
        "adapter", "deliver", "encode", "pipeline", "settings", "source",
    ] {
        assert!(
            graph.contains_key(expected),
            "no module {expected}: {graph:?}"
        );
    }
    let found = cycles(&graph);
    let listing: String = graph
        .iter()
        .map(|(m, deps)| {
            format!(
                "  {m} -> {}\n",
                deps.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        })
        .collect();
    assert!(found.is_empty(), "module cycles: {found:?}\n{listing}");
}

#[test]
fn the_cycle_check_finds_a_cycle_and_reads_paths_as_rust_does() {
    let code = code_only(
        "use crate::{a::X, b}; // crate::c\n let s = \"crate::d\"; super::super::e::f(); 'x'; fn g<'a>() {}",
    );
    let deps = dependencies(&code, &["m".into(), "n".into()]);
    assert_eq!(deps, BTreeSet::from(["a".into(), "b".into(), "e".into()]));
    // `super` of a top-level module is the crate root; of a nested one, its parent.
    let deps = dependencies("super::e::f()", &["m".into()]);
    assert_eq!(deps, BTreeSet::from(["e".into()]));
    let deps = dependencies("use super::{X, y::Z};", &["m".into(), "n".into()]);
    assert_eq!(deps, BTreeSet::from(["m".into()]));
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a", vec!["b"]),
        ("b", vec!["c"]),
        ("c", vec!["a"]),
        ("d", vec!["a"]),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.into_iter().map(str::to_owned).collect()))
    .collect();
    assert_eq!(cycles(&graph), vec![vec!["a", "b", "c"]]);
}

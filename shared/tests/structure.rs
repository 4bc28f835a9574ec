//! The crate's shape, measured on its source: no import circle between modules, no
//! import from a lower layer to a higher one, no file over 800 lines of non-test code,
//! no function over 100 lines.
//!
//! Every `.rs` file under `src/` is parsed with `syn` (line numbers from proc-macro2's
//! `span-locations`). Items under `#[cfg(test)]` are left out of every measure: tests
//! may import anything and hold long tables. An import is any path that names a module
//! of this crate (`use crate::x`, `super::y::f()`, `self::z`, a child module by name);
//! `pub use` re-exports only forward names, so they are followed to the module that
//! defines the name and are not edges themselves. A module is one file.
//!
//! Each test lists every offender with its file and line, so one run shows all the work.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

/// The most lines of non-test code a file may have.
const MAX_FILE_LINES: usize = 800;
/// The most lines a function may have, from `fn` to its closing brace.
const MAX_FN_LINES: usize = 100;

/// The layers of the crate, lowest first, by top-level module: a module may import
/// from its own layer and lower ones, never from a higher one. Mirrors the crate doc
/// in `lib.rs`: pure foundations, then the seam to Docker and the image recipes, the
/// settings and the plan built from them, the renderers, the steps, the commands.
const LAYERS: &[&[&str]] = &[
    // Foundations: errors, formats, names; no knowledge of a cluster's settings.
    &[
        "error",
        "yaml11",
        "version",
        "progress",
        "interrupt",
        "names",
        "publish",
        "manifests",
        "text_table",
        "suggest",
        "placement",
    ],
    // Docker: the endpoint, the one seam to the engine, the node operations.
    &["docker_cli", "engine", "node"],
    // The images dind builds (they take values, not settings).
    &["image"],
    // Who a cluster is and its plan.
    &["settings", "plan"],
    // Configuration rendered from the plan; kubeconfig merging; readiness.
    &[
        "kubeadm",
        "bootstrap_token",
        "cni",
        "flannel",
        "kubeconfig",
        "contexts",
        "ready",
        "static_pods",
    ],
    // The cluster's steps, its dumps and conformance runs.
    &["cluster", "dump", "e2e"],
    // The commands both plugins present.
    &["cli"],
];

/// One parsed source file.
struct SourceFile {
    /// Relative to `src/`, for messages.
    rel: String,
    /// The module path, e.g. `["cluster", "up"]`; empty for `lib.rs`.
    module: Vec<String>,
    ast: syn::File,
    lines: usize,
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `cluster/up.rs` -> `cluster::up`; `cluster/mod.rs` -> `cluster`; `lib.rs` -> crate.
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

fn sources() -> Vec<SourceFile> {
    let root = src_dir();
    let mut paths = Vec::new();
    rust_files(&root, &mut paths);
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
            let rel_path = path.strip_prefix(&root).expect("under src/").to_path_buf();
            let ast = syn::parse_file(&text)
                .unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()));
            SourceFile {
                rel: rel_path.display().to_string(),
                module: module_of(&rel_path),
                ast,
                lines: text.lines().count(),
            }
        })
        .collect()
}

fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && a.meta
                .require_list()
                .is_ok_and(|list| list.tokens.to_string() == "test")
    })
}

fn item_attrs(item: &syn::Item) -> &[syn::Attribute] {
    use syn::Item::*;
    match item {
        Const(i) => &i.attrs,
        Enum(i) => &i.attrs,
        ExternCrate(i) => &i.attrs,
        Fn(i) => &i.attrs,
        ForeignMod(i) => &i.attrs,
        Impl(i) => &i.attrs,
        Macro(i) => &i.attrs,
        Mod(i) => &i.attrs,
        Static(i) => &i.attrs,
        Struct(i) => &i.attrs,
        Trait(i) => &i.attrs,
        TraitAlias(i) => &i.attrs,
        Type(i) => &i.attrs,
        Union(i) => &i.attrs,
        Use(i) => &i.attrs,
        _ => &[],
    }
}

/// The first and last line of an item, its attributes and doc comments included.
fn item_lines(item: &syn::Item) -> (usize, usize) {
    use syn::spanned::Spanned;
    let span = item.span();
    let start = item_attrs(item)
        .iter()
        .map(|a| a.pound_token.span.start().line)
        .chain([span.start().line])
        .min()
        .unwrap_or(span.start().line);
    (start, span.end().line)
}

/// Lines of the file outside `#[cfg(test)]` items.
fn non_test_lines(file: &SourceFile) -> usize {
    let test_lines: usize = file
        .ast
        .items
        .iter()
        .filter(|item| is_cfg_test(item_attrs(item)))
        .map(|item| {
            let (start, end) = item_lines(item);
            end - start + 1
        })
        .sum();
    file.lines - test_lines
}

/// Walks the non-test code of one file: functions and their lengths, and the paths
/// it names.
#[derive(Default)]
struct Walker {
    /// (line, name, lines) of every function.
    functions: Vec<(usize, String, usize)>,
    /// Paths named in code and in private `use` items, with their line.
    paths: Vec<(usize, Vec<String>)>,
    /// `pub use` re-exports: (path of the forwarded item, name it is known by here).
    reexports: Vec<(Vec<String>, String)>,
}

impl Walker {
    fn function(&mut self, name: &syn::Ident, fn_token: &syn::token::Fn, block: &syn::Block) {
        let start = fn_token.span.start().line;
        let end = block.brace_token.span.close().end().line;
        self.functions
            .push((start, name.to_string(), end - start + 1));
    }

    fn use_tree(
        &mut self,
        prefix: &mut Vec<String>,
        tree: &syn::UseTree,
        line: usize,
        public: bool,
    ) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree, line, public);
                prefix.pop();
            }
            syn::UseTree::Name(n) => self.use_leaf(prefix, &n.ident, &n.ident, line, public),
            syn::UseTree::Rename(r) => self.use_leaf(prefix, &r.ident, &r.rename, line, public),
            syn::UseTree::Glob(_) => {
                if !public {
                    self.paths.push((line, prefix.clone()));
                }
            }
            syn::UseTree::Group(g) => {
                for tree in &g.items {
                    self.use_tree(prefix, tree, line, public);
                }
            }
        }
    }

    fn use_leaf(
        &mut self,
        prefix: &[String],
        ident: &syn::Ident,
        known_as: &syn::Ident,
        line: usize,
        public: bool,
    ) {
        let mut path = prefix.to_vec();
        if ident != "self" {
            path.push(ident.to_string());
        }
        if public {
            self.reexports.push((path, known_as.to_string()));
        } else {
            self.paths.push((line, path));
        }
    }
}

impl<'ast> Visit<'ast> for Walker {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        if !is_cfg_test(item_attrs(item)) {
            syn::visit::visit_item(self, item);
        }
    }

    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        let public = matches!(
            item.vis,
            syn::Visibility::Public(_) | syn::Visibility::Restricted(_)
        );
        let line = item.use_token.span.start().line;
        self.use_tree(&mut Vec::new(), &item.tree, line, public);
    }

    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        self.function(&f.sig.ident, &f.sig.fn_token, &f.block);
        syn::visit::visit_item_fn(self, f);
    }

    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        if !is_cfg_test(&f.attrs) {
            self.function(&f.sig.ident, &f.sig.fn_token, &f.block);
            syn::visit::visit_impl_item_fn(self, f);
        }
    }

    fn visit_trait_item_fn(&mut self, f: &'ast syn::TraitItemFn) {
        if let Some(block) = &f.default {
            self.function(&f.sig.ident, &f.sig.fn_token, block);
        }
        syn::visit::visit_trait_item_fn(self, f);
    }

    /// `pub(super)` and `pub(in path)` name a module without importing from it.
    fn visit_visibility(&mut self, _: &'ast syn::Visibility) {}

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        if let Some(first) = path.segments.first() {
            self.paths.push((first.ident.span().start().line, segments));
        }
        syn::visit::visit_path(self, path);
    }
}

fn walk(file: &SourceFile) -> Walker {
    let mut walker = Walker::default();
    walker.visit_file(&file.ast);
    walker
}

/// The crate's module graph: which file imports which, with one line as evidence.
struct Graph {
    modules: BTreeMap<Vec<String>, String>,
    /// (from, to) -> (file, line) of the first import.
    edges: BTreeMap<(Vec<String>, Vec<String>), (String, usize)>,
}

/// The module a path names from `module`, as an absolute module path plus the rest of
/// the path; `None` when it names no module of this crate.
fn absolute(
    module: &[String],
    path: &[String],
    modules: &BTreeSet<Vec<String>>,
) -> Option<Vec<String>> {
    let (mut base, rest): (Vec<String>, &[String]) = match path.first()?.as_str() {
        "crate" => (Vec::new(), &path[1..]),
        "self" => (module.to_vec(), &path[1..]),
        "super" => {
            let mut base = module.to_vec();
            let mut rest = path;
            while rest.first().is_some_and(|s| s == "super") {
                base.pop();
                rest = &rest[1..];
            }
            (base, rest)
        }
        // A child module named directly (the 2018 edition's uniform paths).
        first => {
            let mut child = module.to_vec();
            child.push(first.to_string());
            if !modules.contains(&child) {
                return None;
            }
            (module.to_vec(), path)
        }
    };
    base.extend(rest.iter().cloned());
    Some(base)
}

/// The file module that defines what `full` names, following `pub use` re-exports.
fn resolve(
    full: &[String],
    modules: &BTreeSet<Vec<String>>,
    reexports: &BTreeMap<Vec<String>, Vec<(Vec<String>, String)>>,
    depth: usize,
) -> Vec<String> {
    let module = (0..=full.len())
        .rev()
        .map(|n| full[..n].to_vec())
        .find(|prefix| modules.contains(prefix))
        .unwrap_or_default();
    if depth < 8 {
        if let Some(name) = full.get(module.len()) {
            let forwarded = reexports
                .get(&module)
                .and_then(|list| list.iter().find(|(_, known_as)| known_as == name));
            if let Some((target, _)) = forwarded {
                if let Some(mut target) = absolute(&module, target, modules) {
                    target.extend(full[module.len() + 1..].iter().cloned());
                    return resolve(&target, modules, reexports, depth + 1);
                }
            }
        }
    }
    module
}

fn graph(files: &[SourceFile]) -> Graph {
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| f.module.clone()).collect();
    let walked: Vec<Walker> = files.iter().map(walk).collect();
    let reexports: BTreeMap<Vec<String>, Vec<(Vec<String>, String)>> = files
        .iter()
        .zip(&walked)
        .map(|(f, w)| (f.module.clone(), w.reexports.clone()))
        .collect();
    let mut edges = BTreeMap::new();
    for (file, walker) in files.iter().zip(&walked) {
        for (line, path) in &walker.paths {
            let Some(full) = absolute(&file.module, path, &modules) else {
                continue;
            };
            let target = resolve(&full, &modules, &reexports, 0);
            // Naming an ancestor or descendant's path to reach a sibling resolves above;
            // a module naming itself or the crate root is no import.
            if target == file.module || target.is_empty() {
                continue;
            }
            edges
                .entry((file.module.clone(), target))
                .or_insert((file.rel.clone(), *line));
        }
    }
    Graph {
        modules: files
            .iter()
            .map(|f| (f.module.clone(), f.rel.clone()))
            .collect(),
        edges,
    }
}

fn name(module: &[String]) -> String {
    if module.is_empty() {
        "crate".into()
    } else {
        module.join("::")
    }
}

/// Strongly connected components with more than one module (Tarjan's algorithm).
fn circles(graph: &Graph) -> Vec<Vec<Vec<String>>> {
    struct State<'g> {
        graph: &'g Graph,
        index: BTreeMap<&'g Vec<String>, usize>,
        low: BTreeMap<&'g Vec<String>, usize>,
        stack: Vec<&'g Vec<String>>,
        on_stack: BTreeSet<&'g Vec<String>>,
        found: Vec<Vec<Vec<String>>>,
    }
    fn connect<'g>(s: &mut State<'g>, v: &'g Vec<String>) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        s.on_stack.insert(v);
        let graph = s.graph;
        for ((from, to), _) in graph.edges.range((v.clone(), Vec::new())..) {
            if from != v {
                break;
            }
            if !s.index.contains_key(to) {
                connect(s, to);
                let low = s.low[v].min(s.low[to]);
                s.low.insert(v, low);
            } else if s.on_stack.contains(to) {
                let low = s.low[v].min(s.index[to]);
                s.low.insert(v, low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.clone());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.found.push(component);
            }
        }
    }
    let mut state = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for module in graph.modules.keys() {
        if !state.index.contains_key(module) {
            connect(&mut state, module);
        }
    }
    state.found
}

fn layer_of(module: &[String]) -> Option<usize> {
    let top = module.first()?;
    LAYERS
        .iter()
        .position(|layer| layer.contains(&top.as_str()))
}

fn fail_with(what: &str, offenders: &[String]) {
    assert!(
        offenders.is_empty(),
        "{} {what}:\n  {}\n",
        offenders.len(),
        offenders.join("\n  ")
    );
}

#[test]
fn no_import_circles() {
    let graph = graph(&sources());
    let offenders: Vec<String> = circles(&graph)
        .into_iter()
        .map(|component| {
            let members: BTreeSet<&Vec<String>> = component.iter().collect();
            let evidence: Vec<String> = graph
                .edges
                .iter()
                .filter(|((from, to), _)| members.contains(from) && members.contains(to))
                .map(|((from, to), (file, line))| {
                    format!("{} -> {} ({file}:{line})", name(from), name(to))
                })
                .collect();
            format!(
                "circle {{{}}}: {}",
                component
                    .iter()
                    .map(|m| name(m))
                    .collect::<Vec<_>>()
                    .join(", "),
                evidence.join("; ")
            )
        })
        .collect();
    fail_with("import circle(s) between modules of shared/src", &offenders);
}

#[test]
fn every_top_level_module_has_a_layer() {
    let graph = graph(&sources());
    let missing: BTreeSet<String> = graph
        .modules
        .keys()
        .filter(|m| !m.is_empty() && layer_of(m).is_none())
        .map(|m| m[0].clone())
        .collect();
    let missing: Vec<String> = missing.into_iter().collect();
    fail_with("top-level module(s) missing from LAYERS", &missing);
}

#[test]
fn no_upward_imports() {
    let graph = graph(&sources());
    let offenders: Vec<String> = graph
        .edges
        .iter()
        .filter_map(|((from, to), (file, line))| {
            let (lower, higher) = (layer_of(from)?, layer_of(to)?);
            (higher > lower).then(|| {
                format!(
                    "{file}:{line}: {} (layer {lower}) imports {} (layer {higher})",
                    name(from),
                    name(to)
                )
            })
        })
        .collect();
    fail_with("upward import(s)", &offenders);
}

#[test]
fn no_file_over_the_line_limit() {
    let mut offenders: Vec<String> = sources()
        .iter()
        .map(|f| (non_test_lines(f), &f.rel))
        .filter(|(lines, _)| *lines > MAX_FILE_LINES)
        .map(|(lines, rel)| format!("{rel}: {lines} lines of non-test code"))
        .collect();
    offenders.sort();
    fail_with(
        &format!("file(s) over {MAX_FILE_LINES} lines of non-test code"),
        &offenders,
    );
}

#[test]
fn no_function_over_the_line_limit() {
    let offenders: Vec<String> = sources()
        .iter()
        .flat_map(|f| {
            walk(f)
                .functions
                .into_iter()
                .filter(|(_, _, lines)| *lines > MAX_FN_LINES)
                .map(|(line, name, lines)| format!("{}:{line}: fn {name}: {lines} lines", f.rel))
                .collect::<Vec<_>>()
        })
        .collect();
    fail_with(
        &format!("function(s) over {MAX_FN_LINES} lines"),
        &offenders,
    );
}

/// The measures themselves, on a small crate written here: a circle, an upward import,
/// a re-export that is followed, and test code that is left out.
#[test]
fn the_measures_see_what_they_should() {
    let parse = |rel: &str, text: &str| SourceFile {
        rel: rel.into(),
        module: module_of(Path::new(rel)),
        ast: syn::parse_file(text).expect("test source parses"),
        lines: text.lines().count(),
    };
    let files = [
        parse("lib.rs", "pub mod image;\npub mod settings;\npub mod cluster;\n"),
        parse("image/mod.rs", "pub mod recipe;\npub use recipe::Recipe;\n"),
        parse(
            "image/recipe.rs",
            "use crate::settings::Settings;\npub struct Recipe;\n#[cfg(test)]\nmod tests {\n use crate::cluster::X;\n}\n",
        ),
        parse("settings.rs", "use crate::image::Recipe;\npub struct Settings;\n"),
        parse("cluster/mod.rs", "pub mod a;\npub mod b;\n"),
        parse("cluster/a.rs", "pub(super) fn f() { super::b::g(); }\n"),
        parse("cluster/b.rs", "pub fn g() { super::a::f(); }\n"),
    ];
    let graph = graph(&files);
    let edges: BTreeSet<String> = graph
        .edges
        .keys()
        .map(|(from, to)| format!("{} -> {}", name(from), name(to)))
        .collect();
    let expected: BTreeSet<String> = [
        "image::recipe -> settings",
        "settings -> image::recipe",
        "cluster::a -> cluster::b",
        "cluster::b -> cluster::a",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(edges, expected);
    let mut found: Vec<String> = circles(&graph)
        .iter()
        .map(|c| c.iter().map(|m| name(m)).collect::<Vec<_>>().join(","))
        .collect();
    found.sort();
    assert_eq!(found, ["cluster::a,cluster::b", "image::recipe,settings"]);
    assert!(layer_of(&["image".into()]) < layer_of(&["settings".into()]));
    assert_eq!(non_test_lines(&files[2]), 2);
    let long = format!(
        "fn long() {{\n{}}}\n",
        "    let _ = 1;\n".repeat(MAX_FN_LINES)
    );
    let walked = walk(&parse("long.rs", &long));
    assert_eq!(
        walked.functions,
        [(1, "long".to_string(), MAX_FN_LINES + 2)]
    );
}

//! `cargo xtask imports`: fails when the files of a crate import each other in a circle.
//!
//! A circle between files means none of them can be read, tested or moved without the
//! others, and it tends to grow: once two files know each other, every later change takes
//! the shortest way. Keeping the arrows one way is cheap while the circle is two files and
//! expensive once it is seven, so CI checks it.
//!
//! The check is lexical, so that xtask keeps building in seconds with nothing but `std`:
//! comments and literals are dropped first, then `use` trees (nested groups, several
//! lines, renames, globs) and qualified paths in code (`crate::`, `super::`, `self::`, a
//! child module's or an imported module's name) are read from the tokens. Each crate root
//! (`lib.rs`, `main.rs`, `[[bin]]` paths) is a crate of its own; its files are the ones its
//! `mod` declarations reach (with `#[path]`). A path resolves to the file of the deepest
//! module it names, and a name a module only imports or re-exports (`pub use`, plain
//! `use`, chains, globs) is followed to the file that defines it. Items and modules under
//! `#[cfg(test)]` are skipped: tests may import anything. A `mod child;` declaration is not
//! an arrow.
//!
//! Not seen: method calls, names a glob import brings in and code then uses bare, and
//! items that macros generate.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

/// Runs the check over the workspace at `root`: prints every circle and fails when there
/// is one. `--verbose` also lists every arrow and the paths that did not resolve.
pub fn imports(root: &Path, args: &[String]) -> Result<(), String> {
    let verbose = args.iter().any(|a| a == "--verbose" || a == "-v");
    let mut crates = Vec::new();
    for member in workspace_members(root)? {
        for (name, root_file) in crate_roots(&member)? {
            crates.push(Crate::load(&name, &root_file, &|p: &Path| {
                fs::read_to_string(p).ok()
            }));
        }
    }
    let files: usize = crates.iter().map(|c| c.files.len()).sum();
    let mut circles = 0;
    for krate in &crates {
        for missing in &krate.missing {
            eprintln!("xtask imports: {}: no file for {missing}", krate.name);
        }
        if verbose {
            print!("{}", krate.describe());
        }
        for circle in krate.circles() {
            circles += 1;
            print!("{}", krate.show_circle(&circle));
        }
    }
    if circles == 0 {
        println!(
            "no import circles in {files} files of {} crates",
            crates.len()
        );
        Ok(())
    } else {
        Err(format!(
            "{circles} import circle(s) in {files} files of {} crates (listed above); make \
             the arrows go one way",
            crates.len()
        ))
    }
}

/// The member directories the workspace's `Cargo.toml` lists (a trailing `/*` is expanded).
fn workspace_members(root: &Path) -> Result<Vec<PathBuf>, String> {
    let manifest = root.join("Cargo.toml");
    let text = fs::read_to_string(&manifest)
        .map_err(|e| format!("cannot read {}: {e}", manifest.display()))?;
    let start = text
        .find("\nmembers")
        .ok_or_else(|| format!("no `members` in {}", manifest.display()))?;
    let list = &text[start..];
    let list = &list[..list.find(']').unwrap_or(list.len())];
    let mut members = Vec::new();
    for entry in list.split('"').skip(1).step_by(2) {
        if let Some(parent) = entry.strip_suffix("/*") {
            let mut found: Vec<PathBuf> = fs::read_dir(root.join(parent))
                .map_err(|e| format!("cannot list {parent}: {e}"))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.join("Cargo.toml").is_file())
                .collect();
            found.sort();
            members.extend(found);
        } else {
            members.push(root.join(entry));
        }
    }
    Ok(members)
}

/// The crate roots of one package under its `src/`: the library and every binary, each
/// named for the report.
fn crate_roots(package: &Path) -> Result<Vec<(String, PathBuf)>, String> {
    let manifest = package.join("Cargo.toml");
    let text = fs::read_to_string(&manifest)
        .map_err(|e| format!("cannot read {}: {e}", manifest.display()))?;
    let mut package_name = String::new();
    let mut lib_path = None;
    let mut bins: Vec<(Option<String>, Option<String>)> = Vec::new();
    let mut section = String::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            section = line.trim_matches(|c| c == '[' || c == ']').to_owned();
            if section == "bin" {
                bins.push((None, None));
            }
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim().trim_matches('"').to_owned();
        match (section.as_str(), key.trim()) {
            ("package", "name") => package_name = value,
            ("lib", "path") => lib_path = Some(value),
            ("bin", "name") => {
                if let Some(bin) = bins.last_mut() {
                    bin.0 = Some(value);
                }
            }
            ("bin", "path") => {
                if let Some(bin) = bins.last_mut() {
                    bin.1 = Some(value);
                }
            }
            _ => {}
        }
    }
    let src = package.join("src");
    let mut roots: Vec<(String, PathBuf)> = Vec::new();
    let lib = package.join(lib_path.as_deref().unwrap_or("src/lib.rs"));
    if lib.is_file() {
        roots.push((package_name.clone(), lib));
    }
    let mut add_bin = |name: String, path: PathBuf| {
        if path.is_file() && path.starts_with(&src) && !roots.iter().any(|(_, p)| *p == path) {
            roots.push((format!("{package_name} (bin {name})"), path));
        }
    };
    for (name, path) in bins {
        let name = name.unwrap_or_else(|| package_name.clone());
        let path = match path {
            Some(path) => package.join(path),
            None if name == package_name => src.join("main.rs"),
            None => src.join("bin").join(format!("{name}.rs")),
        };
        add_bin(name, path);
    }
    // Cargo's automatic binaries.
    add_bin(package_name.clone(), src.join("main.rs"));
    if let Ok(dir) = fs::read_dir(src.join("bin")) {
        let mut found: Vec<PathBuf> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
        found.sort();
        for path in found {
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let root = if path.is_dir() {
                path.join("main.rs")
            } else {
                path
            };
            add_bin(name, root);
        }
    }
    Ok(roots)
}

// ---------------------------------------------------------------------------------------
// Tokens

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    /// A string literal's contents: only `#[path = "..."]` reads them, so that a path in
    /// a string never counts as a use.
    Str(String),
    /// Numbers, characters and bytes.
    Lit,
    Lifetime,
    /// `::`
    PathSep,
    Punct(char),
}

#[derive(Clone, Debug)]
struct Token {
    tok: Tok,
    line: usize,
}

/// Splits Rust source into tokens, dropping comments (doc comments too) and whitespace.
fn lex(src: &str) -> Vec<Token> {
    let chars: Vec<char> = src.chars().collect();
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start_line = line;
        let mut push = |tok: Tok| {
            out.push(Token {
                tok,
                line: start_line,
            })
        };
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            // Block comments nest in Rust.
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if chars[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
        } else if c == '"' {
            let (text, end) = quoted(&chars, i + 1, &mut line);
            push(Tok::Str(text));
            i = end;
        } else if c == '\'' {
            if at(i + 1) == '\\' {
                // An escaped character: '\n', '\'', '\u{1F600}'.
                i += 3;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
                push(Tok::Lit);
            } else if at(i + 2) == '\'' {
                i += 3;
                push(Tok::Lit);
            } else {
                // A lifetime or a loop label.
                i += 1;
                while i < chars.len() && is_ident_char(chars[i]) {
                    i += 1;
                }
                push(Tok::Lifetime);
            }
        } else if c.is_ascii_digit() {
            while i < chars.len()
                && (is_ident_char(chars[i]) || (chars[i] == '.' && at(i + 1).is_ascii_digit()))
            {
                i += 1;
            }
            push(Tok::Lit);
        } else if is_ident_char(c) {
            let start = i;
            while i < chars.len() && is_ident_char(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let next = at(i);
            match word.as_str() {
                // Raw strings: r"..", r#".."#, br"..", cr"..".
                "r" | "br" | "cr"
                    if next == '"'
                        || (next == '#' && at(i + 1) != '_' && !at(i + 1).is_alphabetic()) =>
                {
                    let mut hashes = 0;
                    while at(i) == '#' {
                        hashes += 1;
                        i += 1;
                    }
                    i += 1; // the opening quote
                    let start = i;
                    loop {
                        if i >= chars.len() {
                            break;
                        }
                        if chars[i] == '"' && (1..=hashes).all(|k| at(i + k) == '#') {
                            break;
                        }
                        if chars[i] == '\n' {
                            line += 1;
                        }
                        i += 1;
                    }
                    let text: String = chars[start..i.min(chars.len())].iter().collect();
                    i += 1 + hashes;
                    push(Tok::Str(text));
                }
                // A raw identifier: r#type.
                "r" if next == '#' => {
                    let start = i + 1;
                    i += 1;
                    while i < chars.len() && is_ident_char(chars[i]) {
                        i += 1;
                    }
                    push(Tok::Ident(chars[start..i].iter().collect()));
                }
                "b" | "c" if next == '"' => {
                    let (text, end) = quoted(&chars, i + 1, &mut line);
                    push(Tok::Str(text));
                    i = end;
                }
                "b" if next == '\'' => {
                    // A byte: b'a', b'\'', b'\x7f'.
                    i += 1;
                    i += if at(i) == '\\' { 2 } else { 1 };
                    while i < chars.len() && chars[i] != '\'' {
                        i += 1;
                    }
                    i += 1;
                    push(Tok::Lit);
                }
                _ => push(Tok::Ident(word)),
            }
        } else if c == ':' && at(i + 1) == ':' {
            push(Tok::PathSep);
            i += 2;
        } else {
            push(Tok::Punct(c));
            i += 1;
        }
    }
    out
}

fn is_ident_char(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// The contents of a string whose opening quote is just before `i`, and the index after
/// its closing quote.
fn quoted(chars: &[char], mut i: usize, line: &mut usize) -> (String, usize) {
    let mut text = String::new();
    while i < chars.len() && chars[i] != '"' {
        if chars[i] == '\\' {
            i += 1;
        }
        if let Some(&c) = chars.get(i) {
            if c == '\n' {
                *line += 1;
            }
            text.push(c);
        }
        i += 1;
    }
    (text, i + 1)
}

// ---------------------------------------------------------------------------------------
// One crate: its modules, what they define and import, and every path its code names

/// A module path from the crate root: `[]` is the root, `["login", "engine"]` is
/// `crate::login::engine`.
type ModPath = Vec<String>;

#[derive(Default)]
struct Module {
    /// The file the module's items are in (an inline module's is its parent's).
    file: usize,
    children: BTreeSet<String>,
    /// Names the module itself defines: types, functions, constants, statics, macros.
    items: BTreeSet<String>,
    imports: Vec<Import>,
}

/// `use a::b::c as name;` in a module (`name` is `*` for a glob).
struct Import {
    name: String,
    path: Vec<String>,
}

/// A path written in a file: in a `use` or in code.
struct Ref {
    file: usize,
    module: ModPath,
    path: Vec<String>,
    line: usize,
}

/// Where a path leads.
#[derive(Clone, Debug, PartialEq)]
enum Target {
    Item {
        file: usize,
        name: String,
    },
    Module(ModPath),
    /// Another crate's (`std`, a dependency), also through this crate's re-exports.
    External,
}

struct Crate {
    name: String,
    /// The directory file names are shown relative to (the crate root's).
    base: PathBuf,
    files: Vec<PathBuf>,
    modules: BTreeMap<ModPath, Module>,
    refs: Vec<Ref>,
    /// `mod` declarations whose file was not found.
    missing: Vec<String>,
}

/// The arrows between files: for each (from, to) the names used, each with the first line
/// that uses it.
type Edges = BTreeMap<(usize, usize), BTreeMap<String, usize>>;

/// Where the parser is: the module it is in and the brace depth of that module's body.
struct Scope {
    module: ModPath,
    depth: usize,
    /// The directory `mod child;` files of this module are looked up in.
    dir: PathBuf,
}

const ITEM_KEYWORDS: &[&str] = &[
    "struct", "enum", "union", "trait", "fn", "type", "const", "static",
];

impl Crate {
    /// Reads the crate whose root file is `root` by following its `mod` declarations;
    /// `read` gives a file's text (the tests give it from memory).
    fn load(name: &str, root: &Path, read: &dyn Fn(&Path) -> Option<String>) -> Crate {
        let base = root.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut krate = Crate {
            name: name.to_owned(),
            base: base.clone(),
            files: Vec::new(),
            modules: BTreeMap::new(),
            refs: Vec::new(),
            missing: Vec::new(),
        };
        // A crate root, like a mod.rs, keeps its children in its own directory.
        let mut queue = VecDeque::from([(root.to_path_buf(), Vec::new(), base)]);
        while let Some((path, module, dir)) = queue.pop_front() {
            let Some(text) = read(&path) else {
                let shown = if module.is_empty() {
                    "the crate root".to_owned()
                } else {
                    format!("mod {}", module.join("::"))
                };
                krate.missing.push(format!("{shown} ({})", path.display()));
                continue;
            };
            let file = krate.files.len();
            krate.files.push(path);
            krate.modules.entry(module.clone()).or_default().file = file;
            let children = krate.parse_file(&lex(&text), file, module, dir, read);
            queue.extend(children);
        }
        krate
    }

    /// Records what one file defines, imports and names; returns the files of the modules
    /// it declares, with their module paths and the directories of their children.
    fn parse_file(
        &mut self,
        toks: &[Token],
        file: usize,
        module: ModPath,
        dir: PathBuf,
        read: &dyn Fn(&Path) -> Option<String>,
    ) -> Vec<(PathBuf, ModPath, PathBuf)> {
        let tok = |i: usize| toks.get(i).map(|t| &t.tok);
        let ident = |i: usize| match tok(i) {
            Some(Tok::Ident(s)) => Some(s.as_str()),
            _ => None,
        };
        let mut declared = Vec::new();
        let mut scopes = vec![Scope {
            module,
            depth: 0,
            dir,
        }];
        let mut depth = 0;
        let mut cfg_test = false;
        let mut path_attr: Option<String> = None;
        let mut i = 0;
        while i < toks.len() {
            // The file's own scope is never popped.
            let scope = &scopes[scopes.len() - 1];
            let here = scope.module.clone();
            match &toks[i].tok {
                Tok::Punct('#') if tok(i + 1) == Some(&Tok::Punct('!')) => {
                    // An inner attribute (`#![allow(..)]`).
                    i = skip_group(toks, i + 2);
                }
                Tok::Punct('#') if tok(i + 1) == Some(&Tok::Punct('[')) => {
                    let end = skip_group(toks, i + 1);
                    let inside: Vec<&Tok> = toks[i + 2..end.saturating_sub(1).max(i + 2)]
                        .iter()
                        .map(|t| &t.tok)
                        .collect();
                    match inside.as_slice() {
                        [
                            Tok::Ident(cfg),
                            Tok::Punct('('),
                            Tok::Ident(test),
                            Tok::Punct(')'),
                        ] if cfg == "cfg" && test == "test" => {
                            cfg_test = true;
                        }
                        [Tok::Ident(p), Tok::Punct('='), Tok::Str(s)] if p == "path" => {
                            path_attr = Some(s.clone());
                        }
                        _ => {}
                    }
                    i = end;
                }
                _ if cfg_test => {
                    // Test-only code (`#[cfg(test)] mod tests { .. }`, test helpers) may
                    // import anything, and what it defines is not the crate's.
                    i = skip_item(toks, i);
                    cfg_test = false;
                    path_attr = None;
                }
                Tok::Ident(kw) if kw == "pub" && tok(i + 1) == Some(&Tok::Punct('(')) => {
                    // `pub(crate)`, `pub(in crate::a)`: a visibility, not a use.
                    i = skip_group(toks, i + 1);
                }
                Tok::Ident(kw) if kw == "use" && tok(i + 1) != Some(&Tok::Punct('<')) => {
                    let mut entries = Vec::new();
                    let mut j = i + 1;
                    use_tree(toks, &mut j, &mut Vec::new(), &mut entries);
                    for (path, name, line) in entries {
                        if name != "_" {
                            self.module_mut(&here).imports.push(Import {
                                name,
                                path: path.clone(),
                            });
                        }
                        self.refs.push(Ref {
                            file,
                            module: here.clone(),
                            path,
                            line,
                        });
                    }
                    while j < toks.len() && tok(j) != Some(&Tok::Punct(';')) {
                        j += 1;
                    }
                    i = j + 1;
                }
                Tok::Ident(kw) if kw == "mod" && ident(i + 1).is_some() => {
                    let name = ident(i + 1).unwrap_or_default().to_owned();
                    self.module_mut(&here).children.insert(name.clone());
                    let mut child = here.clone();
                    child.push(name.clone());
                    let child_dir = scope.dir.join(&name);
                    match tok(i + 2) {
                        Some(Tok::Punct(';')) => {
                            let path = match path_attr.take() {
                                Some(p) => scope.dir.join(p),
                                None => {
                                    let flat = scope.dir.join(format!("{name}.rs"));
                                    if read(&flat).is_some() {
                                        flat
                                    } else {
                                        child_dir.join("mod.rs")
                                    }
                                }
                            };
                            // The children of `a.rs` live in `a/`, as do those of `a/mod.rs`.
                            let dir = if path.file_name().is_some_and(|n| n == "mod.rs") {
                                path.parent().map(Path::to_path_buf).unwrap_or_default()
                            } else {
                                path.with_extension("")
                            };
                            declared.push((path, child, dir));
                            i += 3;
                        }
                        Some(Tok::Punct('{')) => {
                            let file_of = self.module_mut(&here).file;
                            self.module_mut(&child).file = file_of;
                            depth += 1;
                            scopes.push(Scope {
                                module: child,
                                depth,
                                dir: child_dir,
                            });
                            i += 3;
                        }
                        _ => i += 2,
                    }
                    path_attr = None;
                }
                Tok::Ident(kw) if ITEM_KEYWORDS.contains(&kw.as_str()) => {
                    // Not `*const T`, a raw pointer.
                    if depth == scope.depth
                        && (i == 0 || tok(i - 1) != Some(&Tok::Punct('*')))
                        && let Some(name) = item_name(toks, i)
                    {
                        self.module_mut(&here).items.insert(name);
                    }
                    i += 1;
                }
                Tok::Ident(kw) if kw == "macro_rules" && tok(i + 1) == Some(&Tok::Punct('!')) => {
                    if let Some(name) = ident(i + 2) {
                        self.module_mut(&here).items.insert(name.to_owned());
                    }
                    i += 3;
                }
                Tok::Ident(_)
                    if tok(i + 1) == Some(&Tok::PathSep)
                        && (i == 0 || tok(i - 1) != Some(&Tok::PathSep)) =>
                {
                    let line = toks[i].line;
                    let mut path = Vec::new();
                    let mut j = i;
                    while let Some(segment) = ident(j) {
                        path.push(segment.to_owned());
                        if tok(j + 1) == Some(&Tok::PathSep) && ident(j + 2).is_some() {
                            j += 2;
                        } else {
                            break;
                        }
                    }
                    self.refs.push(Ref {
                        file,
                        module: here,
                        path,
                        line,
                    });
                    i = j + 1;
                }
                Tok::Punct('{') => {
                    depth += 1;
                    i += 1;
                }
                Tok::Punct('}') => {
                    depth = depth.saturating_sub(1);
                    while scopes.len() > 1 && scopes.last().is_some_and(|s| depth < s.depth) {
                        scopes.pop();
                    }
                    i += 1;
                }
                _ => i += 1,
            }
        }
        declared
    }

    fn module_mut(&mut self, path: &[String]) -> &mut Module {
        self.modules.entry(path.to_vec()).or_default()
    }

    /// Where `path`, written in module `from`, leads; `None` for what this lexical reading
    /// cannot follow.
    fn resolve(
        &self,
        from: &[String],
        path: &[String],
        seen: &mut BTreeSet<(ModPath, String)>,
    ) -> Option<Target> {
        let mut module: ModPath = from.to_vec();
        let mut rest = path;
        let mut anchored = false;
        match rest.first().map(String::as_str) {
            Some("crate") => {
                module.clear();
                rest = &rest[1..];
                anchored = true;
            }
            Some("self") => {
                rest = &rest[1..];
                anchored = true;
            }
            _ => {}
        }
        while rest.first().is_some_and(|s| s == "super") {
            module.pop()?;
            rest = &rest[1..];
            anchored = true;
        }
        // A bare first segment is this crate's only when the module knows the name (a
        // child, an item or an import); otherwise it is another crate's.
        self.walk(module, rest, anchored, seen)
    }

    /// Follows `segments` from `module`, one module at a time, to the file defining what
    /// they name. `fallback`: when a module neither defines nor imports a name, take the
    /// one file of the crate that defines it, if only one does.
    fn walk(
        &self,
        mut module: ModPath,
        segments: &[String],
        fallback: bool,
        seen: &mut BTreeSet<(ModPath, String)>,
    ) -> Option<Target> {
        for (at, segment) in segments.iter().enumerate() {
            let last = at + 1 == segments.len();
            let m = self.modules.get(&module)?;
            let is_child = m.children.contains(segment);
            let is_item = m.items.contains(segment);
            if is_child && !(last && is_item) {
                module.push(segment.clone());
                continue;
            }
            if is_item {
                return Some(Target::Item {
                    file: m.file,
                    name: segment.clone(),
                });
            }
            match self.through_imports(&module, segment, seen) {
                Some(Target::Module(next)) if !last => module = next,
                Some(target) => return Some(target),
                // Past the first segment the path is certainly this crate's.
                None if fallback || at > 0 => return self.defined_once(segment),
                None => return Some(Target::External),
            }
        }
        Some(Target::Module(module))
    }

    /// What `name` is in `module` through its imports: `use` (public or not: child modules
    /// see their parent's imports through `super::`), then globs.
    fn through_imports(
        &self,
        module: &[String],
        name: &str,
        seen: &mut BTreeSet<(ModPath, String)>,
    ) -> Option<Target> {
        if !seen.insert((module.to_vec(), name.to_owned())) {
            return None;
        }
        let m = self.modules.get(module)?;
        let found = m
            .imports
            .iter()
            .filter(|i| i.name == name)
            .find_map(|i| self.resolve(module, &i.path, seen));
        found.or_else(|| {
            m.imports.iter().filter(|i| i.name == "*").find_map(|i| {
                match self.resolve(module, &i.path, seen)? {
                    // A name the glob's module does not know is not brought by it.
                    Target::Module(glob) => {
                        match self.walk(glob, &[name.to_owned()], false, seen) {
                            Some(Target::External) => None,
                            found => found,
                        }
                    }
                    Target::Item { .. } | Target::External => None,
                }
            })
        })
    }

    /// The file that defines `name`, when exactly one does.
    fn defined_once(&self, name: &str) -> Option<Target> {
        let mut files = self
            .modules
            .values()
            .filter(|m| m.items.contains(name))
            .map(|m| m.file);
        let file = files.next()?;
        files.all(|f| f == file).then(|| Target::Item {
            file,
            name: name.to_owned(),
        })
    }

    fn target_file(&self, target: &Target) -> Option<(usize, String)> {
        match target {
            Target::Item { file, name } => Some((*file, name.clone())),
            Target::Module(path) => {
                let m = self.modules.get(path)?;
                Some((
                    m.file,
                    path.last().cloned().unwrap_or_else(|| "crate".into()),
                ))
            }
            Target::External => None,
        }
    }

    /// The arrows between files, and the paths this crate anchors (`crate::`, `super::`,
    /// `self::`) that did not resolve.
    fn edges(&self) -> (Edges, Vec<&Ref>) {
        let mut edges = Edges::new();
        let mut unresolved = Vec::new();
        for r in &self.refs {
            let Some(target) = self.resolve(&r.module, &r.path, &mut BTreeSet::new()) else {
                unresolved.push(r);
                continue;
            };
            let Some((to, name)) = self.target_file(&target) else {
                continue;
            };
            if to != r.file {
                edges
                    .entry((r.file, to))
                    .or_default()
                    .entry(name)
                    .or_insert(r.line);
            }
        }
        (edges, unresolved)
    }

    /// The circles: strongly connected components of two files or more, each sorted.
    fn circles(&self) -> Vec<Vec<usize>> {
        let (edges, _) = self.edges();
        let mut next: Vec<Vec<usize>> = vec![Vec::new(); self.files.len()];
        for &(from, to) in edges.keys() {
            next[from].push(to);
        }
        let mut circles: Vec<Vec<usize>> = tarjan(&next)
            .into_iter()
            .filter(|c| c.len() >= 2)
            .map(|mut c| {
                c.sort_unstable();
                c
            })
            .collect();
        circles.sort();
        circles
    }

    fn shown(&self, file: usize) -> String {
        let path = &self.files[file];
        path.strip_prefix(&self.base)
            .unwrap_or(path)
            .display()
            .to_string()
    }

    /// One circle: its files, then each arrow that ties it with the names it uses (and the
    /// line of their first use).
    fn show_circle(&self, circle: &[usize]) -> String {
        let (edges, _) = self.edges();
        let mut names: Vec<String> = circle.iter().map(|&f| self.shown(f)).collect();
        names.sort();
        let mut out = format!(
            "{}: import circle of {} files ({}), in {}:\n",
            self.name,
            circle.len(),
            names.join(", "),
            self.base.display()
        );
        let mut ties: Vec<String> = edges
            .iter()
            .filter(|((from, to), _)| circle.contains(from) && circle.contains(to))
            .map(|((from, to), used)| {
                format!(
                    "  {} -> {}: {}\n",
                    self.shown(*from),
                    self.shown(*to),
                    show_names(used)
                )
            })
            .collect();
        ties.sort();
        out.extend(ties);
        out.push('\n');
        out
    }

    /// Every arrow of the crate and every anchored path that did not resolve (`--verbose`).
    fn describe(&self) -> String {
        let (edges, unresolved) = self.edges();
        let mut out = format!("{} ({} files):\n", self.name, self.files.len());
        for ((from, to), used) in &edges {
            let _ = writeln!(
                out,
                "  {} -> {}: {}",
                self.shown(*from),
                self.shown(*to),
                show_names(used)
            );
        }
        for r in unresolved {
            let _ = writeln!(
                out,
                "  unresolved: {} at {}:{}",
                r.path.join("::"),
                self.shown(r.file),
                r.line
            );
        }
        out
    }
}

fn show_names(used: &BTreeMap<String, usize>) -> String {
    let shown: Vec<String> = used
        .iter()
        .map(|(name, line)| format!("{name} (line {line})"))
        .collect();
    shown.join(", ")
}

/// The index just after the group whose opening bracket is at `open`.
fn skip_group(toks: &[Token], open: usize) -> usize {
    let mut depth = 0usize;
    let mut i = open;
    while i < toks.len() {
        match toks[i].tok {
            Tok::Punct('(' | '[' | '{') => depth += 1,
            Tok::Punct(')' | ']' | '}') => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    toks.len()
}

/// The index just after the item (or statement, field, match arm) starting at `start`.
fn skip_item(toks: &[Token], start: usize) -> usize {
    let words: Vec<&str> = toks[start..]
        .iter()
        .take(6)
        .filter_map(|t| match &t.tok {
            Tok::Ident(s) => Some(s.as_str()),
            _ => None,
        })
        .skip_while(|w| matches!(*w, "pub" | "crate" | "super" | "in"))
        .collect();
    let first = words.first().copied().unwrap_or("");
    let is_const_fn = first == "const"
        && matches!(
            words.get(1).copied(),
            Some("fn" | "unsafe" | "async" | "extern")
        );
    // These end at their `;` even when a block comes first (`const X: T = T { .. };`).
    let until_semicolon =
        matches!(first, "static" | "let" | "type" | "use") || (first == "const" && !is_const_fn);
    let is_item = until_semicolon
        || matches!(
            first,
            "fn" | "mod"
                | "impl"
                | "trait"
                | "struct"
                | "enum"
                | "union"
                | "const"
                | "extern"
                | "unsafe"
                | "async"
                | "macro_rules"
        );
    let mut depth = 0usize;
    let mut i = start;
    while i < toks.len() {
        match toks[i].tok {
            Tok::Punct('(' | '[' | '{') => depth += 1,
            Tok::Punct(c @ (')' | ']' | '}')) => {
                if depth == 0 {
                    // The end of what encloses it (a struct's last field).
                    return i;
                }
                depth -= 1;
                if depth == 0 && c == '}' && is_item && !until_semicolon {
                    return i + 1;
                }
            }
            Tok::Punct(';') if depth == 0 => return i + 1,
            Tok::Punct(',') if depth == 0 && !is_item => return i + 1,
            _ => {}
        }
        i += 1;
    }
    toks.len()
}

/// The name an item keyword at `at` introduces, if it introduces one there.
fn item_name(toks: &[Token], at: usize) -> Option<String> {
    let ident = |i: usize| match toks.get(i).map(|t| &t.tok) {
        Some(Tok::Ident(s)) => Some(s.as_str()),
        _ => None,
    };
    let keyword = ident(at)?;
    let mut i = at + 1;
    match keyword {
        "const" if matches!(ident(i), Some("fn" | "unsafe" | "async" | "extern")) => {
            return None;
        }
        "static" if ident(i) == Some("mut") => i += 1,
        // `union` is a keyword only before a name and a body.
        "union" if !matches!(toks.get(i + 1).map(|t| &t.tok), Some(Tok::Punct('{' | '<'))) => {
            return None;
        }
        _ => {}
    }
    let name = ident(i)?;
    (name != "_").then(|| name.to_owned())
}

/// Reads one use tree at `*i` into `(path, name it binds, line)` entries, groups and
/// nested groups included; `prefix` is the path of the enclosing groups.
fn use_tree(
    toks: &[Token],
    i: &mut usize,
    prefix: &mut Vec<String>,
    out: &mut Vec<(Vec<String>, String, usize)>,
) {
    let outer = prefix.len();
    if toks.get(*i).map(|t| &t.tok) == Some(&Tok::PathSep) {
        // `::name`: always another crate.
        prefix.push("::".to_owned());
        *i += 1;
    }
    while let Some(token) = toks.get(*i) {
        match &token.tok {
            Tok::Ident(segment) => {
                prefix.push(segment.clone());
                *i += 1;
                if toks.get(*i).map(|t| &t.tok) == Some(&Tok::PathSep) {
                    *i += 1;
                    continue;
                }
                let mut path = prefix.clone();
                // `a::{self}` is `a`.
                if path.last().is_some_and(|s| s == "self") && path.len() > 1 {
                    path.pop();
                }
                let mut name = path.last().cloned().unwrap_or_default();
                if let (Some(Tok::Ident(r#as)), Some(Tok::Ident(alias))) = (
                    toks.get(*i).map(|t| &t.tok),
                    toks.get(*i + 1).map(|t| &t.tok),
                ) && r#as == "as"
                {
                    name = alias.clone();
                    *i += 2;
                }
                out.push((path, name, token.line));
                break;
            }
            Tok::Punct('*') => {
                out.push((prefix.clone(), "*".to_owned(), token.line));
                *i += 1;
                break;
            }
            Tok::Punct('{') => {
                *i += 1;
                while let Some(t) = toks.get(*i) {
                    match t.tok {
                        Tok::Punct('}') => {
                            *i += 1;
                            break;
                        }
                        Tok::Punct(',') => *i += 1,
                        _ => {
                            let before = *i;
                            use_tree(toks, i, prefix, out);
                            if *i == before {
                                // Not a use tree: give up on the group rather than loop.
                                *i += 1;
                            }
                        }
                    }
                }
                break;
            }
            _ => break,
        }
    }
    prefix.truncate(outer);
}

/// Tarjan's strongly connected components of the graph `next` (node -> successors).
fn tarjan(next: &[Vec<usize>]) -> Vec<Vec<usize>> {
    struct State<'a> {
        next: &'a [Vec<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        counter: usize,
        components: Vec<Vec<usize>>,
    }
    fn visit(s: &mut State<'_>, v: usize) {
        s.index[v] = Some(s.counter);
        s.low[v] = s.counter;
        s.counter += 1;
        s.stack.push(v);
        s.on_stack[v] = true;
        for &w in &s.next[v] {
            match s.index[w] {
                None => {
                    visit(s, w);
                    s.low[v] = s.low[v].min(s.low[w]);
                }
                Some(index) if s.on_stack[w] => s.low[v] = s.low[v].min(index),
                Some(_) => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack[w] = false;
                component.push(w);
                if w == v {
                    break;
                }
            }
            s.components.push(component);
        }
    }
    let n = next.len();
    let mut state = State {
        next,
        index: vec![None; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: Vec::new(),
        counter: 0,
        components: Vec::new(),
    };
    for v in 0..n {
        if state.index[v].is_none() {
            visit(&mut state, v);
        }
    }
    state.components
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A crate from `(path under src/, text)` pairs; `src/lib.rs` is its root.
    fn krate(files: &[(&str, &str)]) -> Crate {
        let files: HashMap<PathBuf, String> = files
            .iter()
            .map(|(p, t)| (Path::new("src").join(p), (*t).to_owned()))
            .collect();
        Crate::load("demo", Path::new("src/lib.rs"), &|p: &Path| {
            files.get(p).cloned()
        })
    }

    /// The arrows as `from -> to: names`, sorted.
    fn arrows(c: &Crate) -> Vec<String> {
        let (edges, _) = c.edges();
        let mut arrows: Vec<String> = edges
            .iter()
            .map(|((from, to), used)| {
                let names: Vec<&str> = used.keys().map(String::as_str).collect();
                format!(
                    "{} -> {}: {}",
                    c.shown(*from),
                    c.shown(*to),
                    names.join(", ")
                )
            })
            .collect();
        arrows.sort();
        arrows
    }

    fn circles(c: &Crate) -> Vec<Vec<String>> {
        c.circles()
            .iter()
            .map(|circle| circle.iter().map(|&f| c.shown(f)).collect())
            .collect()
    }

    #[test]
    fn nested_groups_over_several_lines() {
        let c = krate(&[
            ("lib.rs", "mod a; mod b; mod c;"),
            ("a.rs", "pub struct X;"),
            ("b.rs", "pub struct Y; pub(crate) fn z() {}"),
            (
                "c.rs",
                "use crate::{\n    a::X,\n    b::{\n        Y,\n        z as renamed,\n    },\n};\n\
                 use std::{collections::HashMap, fmt};\n",
            ),
        ]);
        assert_eq!(arrows(&c), ["c.rs -> a.rs: X", "c.rs -> b.rs: Y, z"]);
        assert!(circles(&c).is_empty());
    }

    #[test]
    fn deepest_module_and_paths_in_code() {
        let c = krate(&[
            ("lib.rs", "pub mod login; mod store; mod user;"),
            ("login/mod.rs", "pub(crate) mod engine; pub struct Ctx;"),
            ("login/engine.rs", "pub struct Loaded;"),
            ("store.rs", "pub fn unix_ms() -> u64 { 0 }"),
            (
                "user.rs",
                "use crate::store;\n\
                 fn f() -> crate::login::engine::Loaded { let _ = store::unix_ms(); \
                 super::login::Ctx; todo!() }",
            ),
        ]);
        assert_eq!(
            arrows(&c),
            [
                "user.rs -> login/engine.rs: Loaded",
                "user.rs -> login/mod.rs: Ctx",
                "user.rs -> store.rs: store, unix_ms",
            ]
        );
    }

    #[test]
    fn reexports_lead_to_the_defining_file() {
        let c = krate(&[
            (
                "lib.rs",
                "mod error; mod deep; mod user; mod login;\n\
                 pub use crate::error::Error;\npub use deep::Thing;",
            ),
            ("error.rs", "pub enum Error { A }"),
            ("deep/mod.rs", "mod inner; pub use self::inner::Thing;"),
            ("deep/inner.rs", "pub struct Thing;"),
            (
                "login/mod.rs",
                "mod engine; use crate::Thing as Aliased; pub struct LoginContext;",
            ),
            ("login/engine.rs", "use super::{LoginContext, Aliased};"),
            (
                "user.rs",
                "use crate::{Error, Thing};\nfn f() { let _ = Error::A; }",
            ),
        ]);
        assert_eq!(
            arrows(&c),
            [
                "deep/mod.rs -> deep/inner.rs: Thing",
                "lib.rs -> deep/inner.rs: Thing",
                "lib.rs -> error.rs: Error",
                "login/engine.rs -> deep/inner.rs: Thing",
                "login/engine.rs -> login/mod.rs: LoginContext",
                "login/mod.rs -> deep/inner.rs: Thing",
                "user.rs -> deep/inner.rs: Thing",
                "user.rs -> error.rs: Error",
            ]
        );
    }

    #[test]
    fn a_name_defined_twice_resolves_through_the_reexport() {
        let c = krate(&[
            (
                "lib.rs",
                "mod a; mod b; mod c; mod user; pub use b::Config;",
            ),
            ("a.rs", "pub struct Config;"),
            ("b.rs", "pub struct Config;"),
            ("c.rs", "pub use crate::a::*;"),
            (
                "user.rs",
                "use crate::Config; use crate::c::Config as Other;",
            ),
        ]);
        assert!(arrows(&c).contains(&"user.rs -> b.rs: Config".to_owned()));
        assert!(arrows(&c).contains(&"user.rs -> a.rs: Config".to_owned()));
    }

    #[test]
    fn test_code_comments_and_strings_do_not_count() {
        let c = krate(&[
            ("lib.rs", "mod a; mod b;"),
            (
                "a.rs",
                "pub fn x() {}\n#[cfg(test)]\npub(crate) fn helper() { crate::b::y(); }",
            ),
            (
                "b.rs",
                "//! See [`x`](crate::a::x).\n\
                 /// crate::a::x\n\
                 pub fn y() { let _ = \"crate::a::x\"; let _ = r#\"super::a::x\"#; \
                 let _ = 'c'; let _ = '\\''; /* crate::a::x /* nested */ crate::a::x */ }\n\
                 fn lifetimes<'a>(s: &'a str) -> &'a str { s }\n\
                 #[cfg(test)]\n\
                 #[allow(clippy::unwrap_used)]\n\
                 mod tests {\n    use super::*;\n    use crate::a::x;\n    \
                 pub struct OnlyInTests;\n    #[test]\n    fn t() { x(); }\n}\n",
            ),
        ]);
        assert!(arrows(&c).is_empty(), "{:?}", arrows(&c));
        assert!(c.defined_once("OnlyInTests").is_none());
        assert!(c.defined_once("helper").is_none());
    }

    #[test]
    fn a_two_file_circle_is_found() {
        let c = krate(&[
            ("lib.rs", "mod a; mod b; mod c;"),
            ("a.rs", "use crate::b::Y;\npub fn x() {}"),
            ("b.rs", "pub struct Y;\nfn f() { crate::a::x(); }"),
            ("c.rs", "use crate::{a::x, b::Y};"),
        ]);
        assert_eq!(circles(&c), [["a.rs", "b.rs"]]);
        let shown = c.show_circle(&c.circles()[0]);
        assert!(shown.contains("a.rs -> b.rs: Y (line 1)"), "{shown}");
        assert!(shown.contains("b.rs -> a.rs: x (line 2)"), "{shown}");
        assert!(!shown.contains("c.rs"), "{shown}");
    }

    #[test]
    fn a_circle_through_a_reexport_and_an_inline_module() {
        let c = krate(&[
            ("lib.rs", "mod a; mod b; pub use a::paths;"),
            (
                "a.rs",
                "pub mod paths { pub const TOKEN: &str = \"/token\"; }\nuse crate::b::Y;",
            ),
            (
                "b.rs",
                "pub struct Y;\nfn f() { let _ = crate::paths::TOKEN; }",
            ),
        ]);
        assert_eq!(circles(&c), [["a.rs", "b.rs"]]);
    }

    #[test]
    fn a_clean_graph_passes() {
        let c = krate(&[
            ("lib.rs", "mod a; mod b; mod c; pub use c::Z;"),
            ("a.rs", "use crate::b::Y; use crate::Z;"),
            ("b.rs", "pub struct Y; use crate::c::Z;"),
            (
                "c.rs",
                "pub struct Z; impl Z { pub fn new() -> Self { Z } }",
            ),
        ]);
        assert!(circles(&c).is_empty());
        assert_eq!(
            arrows(&c),
            [
                "a.rs -> b.rs: Y",
                "a.rs -> c.rs: Z",
                "b.rs -> c.rs: Z",
                "lib.rs -> c.rs: Z"
            ]
        );
    }

    #[test]
    fn path_attributes_and_missing_files() {
        let c = krate(&[
            (
                "lib.rs",
                "#[path = \"other_name.rs\"]\npub mod a;\nmod gone;",
            ),
            ("other_name.rs", "pub struct X;"),
        ]);
        assert_eq!(c.files.len(), 2);
        assert_eq!(c.missing.len(), 1);
    }

    #[test]
    fn tarjan_finds_each_component() {
        let next = vec![vec![1], vec![2], vec![0], vec![0, 4], vec![3], vec![]];
        let mut components: Vec<Vec<usize>> = tarjan(&next)
            .into_iter()
            .map(|mut c| {
                c.sort_unstable();
                c
            })
            .collect();
        components.sort();
        assert_eq!(components, [vec![0, 1, 2], vec![3, 4], vec![5]]);
    }
}

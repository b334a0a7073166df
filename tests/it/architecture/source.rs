//! The crate's sources read as Rust: the module tree, found by following
//! `mod x;` declarations from `lib.rs` (so a test-only file is known by how
//! it is declared, not by its name), and for each file every path it names,
//! every macro it calls and every string literal it holds, test code left
//! out wherever it sits.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use proc_macro2::{Spacing, TokenStream, TokenTree};
use syn::spanned::Spanned;
use syn::visit::{self, Visit};

/// Source texts by path relative to `src/`.
pub type Sources = BTreeMap<PathBuf, String>;

/// What a path names once `crate`, `self`, `super`, imports and child
/// modules are resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// Something in the library, from its root: `crate::plan::Plan` is
    /// `["plan", "Plan"]`.
    Crate(Vec<String>),
    /// Anything else: another crate, std, a local name.
    Outside(Vec<String>),
}

/// A path a file names, as written and as resolved.
#[derive(Debug)]
pub struct Named {
    pub target: Target,
    pub written: String,
    pub line: usize,
}

/// A file of the library (or the binary's `main.rs`) that is not test code.
#[derive(Debug, Default)]
pub struct File {
    /// Its module path (`["pace", "ceiling"]`): empty for `lib.rs`,
    /// `["<main>"]` for `main.rs`.
    pub module: Vec<String>,
    /// `main.rs`: the binary, which names the library as `cosinv`.
    pub binary: bool,
    pub names: Vec<Named>,
    /// Macros called, by the last segment of their path, with the line.
    pub macros: Vec<(String, usize)>,
    /// String literals outside doc comments, with the line.
    pub literals: Vec<(String, usize)>,
    /// The child files it declares with `mod x;` (test modules left out).
    pub children: Vec<PathBuf>,
}

/// The library as read: its modules, its files and what could not be read.
#[derive(Debug, Default)]
pub struct Crate {
    /// Module path → the file holding its code (inline modules included).
    pub modules: BTreeMap<Vec<String>, PathBuf>,
    pub files: BTreeMap<PathBuf, File>,
    /// Files reached only through a `#[cfg(test)] mod x;`, and their children.
    pub test_files: BTreeSet<PathBuf>,
    pub problems: Vec<String>,
}

impl Crate {
    /// Reads the tree from `lib.rs` (and `main.rs`, when there is one).
    pub fn read(sources: &Sources) -> Crate {
        let mut krate = Crate::default();
        let mut uses = Uses::new();
        let mut parsed = BTreeMap::new();
        // The binary is a crate of its own: its module paths must not meet
        // the library's (its imports are kept by module path).
        for (root, module, binary) in [("lib.rs", "", false), ("main.rs", "<main>", true)] {
            let root = PathBuf::from(root);
            let module: Vec<String> = (!module.is_empty())
                .then(|| module.into())
                .into_iter()
                .collect();
            if sources.contains_key(&root) {
                let mut walk = Walk {
                    sources,
                    krate: &mut krate,
                    uses: &mut uses,
                    parsed: &mut parsed,
                };
                walk.file(&root, module, false, binary);
            }
        }
        for (path, syntax) in &parsed {
            let file = krate
                .files
                .get(path)
                .expect("parsed files are library files");
            let mut reader = Reader {
                krate: &krate,
                uses: &uses,
                binary: file.binary,
                module: file.module.clone(),
                names: Vec::new(),
                macros: Vec::new(),
                literals: Vec::new(),
            };
            reader.visit_file(syntax);
            let (names, macros, literals) = (reader.names, reader.macros, reader.literals);
            let file = krate.files.get_mut(path).unwrap();
            (file.names, file.macros, file.literals) = (names, macros, literals);
        }
        krate
    }

    /// The file defining module `path` or, for an item, its nearest module:
    /// `["plan", "Plan", "new"]` is in `plan/mod.rs`.
    pub fn file_of(&self, path: &[String]) -> Option<&PathBuf> {
        (0..=path.len())
            .rev()
            .find_map(|len| self.modules.get(&path[..len]))
    }

    /// The module files enclosing a file: `pace/ceiling/start.rs` →
    /// `pace/ceiling.rs`, `pace/mod.rs`, `lib.rs`.
    pub fn ancestors(&self, file: &Path) -> Vec<&PathBuf> {
        let Some(own) = self.files.get(file) else {
            return Vec::new();
        };
        if own.binary {
            return Vec::new();
        }
        (0..own.module.len())
            .filter_map(|len| self.modules.get(&own.module[..len]))
            .filter(|ancestor| ancestor.as_path() != file)
            .collect()
    }
}

/// The directory holding the files of a file's child modules.
fn children_dir(file: &Path) -> PathBuf {
    let parent = file.parent().unwrap_or(Path::new("")).to_path_buf();
    match file.file_name().and_then(|name| name.to_str()) {
        Some("mod.rs" | "lib.rs" | "main.rs") => parent,
        _ => file.with_extension(""),
    }
}

/// `use` declarations by (module, name): the path each name stands for,
/// as written, resolved when a path is read.
type Uses = BTreeMap<(Vec<String>, String), Vec<String>>;

/// Follows `mod` declarations from a root, parsing each file once.
struct Walk<'a> {
    sources: &'a Sources,
    krate: &'a mut Crate,
    uses: &'a mut Uses,
    parsed: &'a mut BTreeMap<PathBuf, syn::File>,
}

impl Walk<'_> {
    fn file(&mut self, path: &Path, module: Vec<String>, test: bool, binary: bool) {
        let Some(text) = self.sources.get(path) else {
            self.krate
                .problems
                .push(format!("{}: declared but not found", path.display()));
            return;
        };
        let syntax = match syn::parse_file(text) {
            Ok(syntax) => syntax,
            Err(error) => {
                let line = error.span().start().line;
                self.krate
                    .problems
                    .push(format!("{}:{line}: {error}", path.display()));
                return;
            }
        };
        if test {
            self.krate.test_files.insert(path.to_path_buf());
        } else {
            if !binary {
                self.krate
                    .modules
                    .insert(module.clone(), path.to_path_buf());
            }
            let file = File {
                module: module.clone(),
                binary,
                ..File::default()
            };
            self.krate.files.insert(path.to_path_buf(), file);
        }
        let dir = children_dir(path);
        self.items(path, &syntax.items, &module, &dir, test);
        if !test {
            self.parsed.insert(path.to_path_buf(), syntax);
        }
    }

    /// Records a module's imports and inline modules, and walks into the
    /// files it declares.
    fn items(
        &mut self,
        file: &Path,
        items: &[syn::Item],
        module: &[String],
        dir: &Path,
        test: bool,
    ) {
        for item in items {
            let item_test = test || is_test(item_attrs(item));
            match item {
                syn::Item::Use(used) if !item_test => {
                    collect_uses(module, &used.tree, Vec::new(), self.uses);
                }
                // A `use` inside a function body counts for the module.
                _ if !item_test && !matches!(item, syn::Item::Mod(_)) => {
                    let mut inner = InnerUses {
                        module,
                        uses: self.uses,
                    };
                    inner.visit_item(item);
                }
                syn::Item::Mod(declared) => {
                    let name = declared.ident.to_string();
                    let child = [module, std::slice::from_ref(&name)].concat();
                    match &declared.content {
                        Some((_, inner)) => {
                            if !item_test {
                                self.krate.modules.insert(child.clone(), file.to_path_buf());
                            }
                            self.items(file, inner, &child, &dir.join(&name), item_test);
                        }
                        None => self.declared(file, &child, dir, &name, item_test),
                    }
                }
                _ => {}
            }
        }
    }

    fn declared(&mut self, parent: &Path, child: &[String], dir: &Path, name: &str, test: bool) {
        let flat = dir.join(format!("{name}.rs"));
        let nested = dir.join(name).join("mod.rs");
        let path = if self.sources.contains_key(&nested) && !self.sources.contains_key(&flat) {
            nested
        } else {
            flat
        };
        if !test && let Some(file) = self.krate.files.get_mut(parent) {
            file.children.push(path.clone());
        }
        let binary = self.krate.files.get(parent).is_some_and(|file| file.binary);
        self.file(&path, child.to_vec(), test, binary);
    }
}

/// Finds `use` declarations inside function bodies (test items skipped).
struct InnerUses<'a> {
    module: &'a [String],
    uses: &'a mut Uses,
}

impl<'ast> Visit<'ast> for InnerUses<'_> {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        if !is_test(item_attrs(item)) {
            visit::visit_item(self, item);
        }
    }

    fn visit_item_use(&mut self, used: &'ast syn::ItemUse) {
        collect_uses(self.module, &used.tree, Vec::new(), self.uses);
    }
}

/// Records each name a `use` tree brings in, with the path it stands for.
fn collect_uses(module: &[String], tree: &syn::UseTree, mut prefix: Vec<String>, uses: &mut Uses) {
    match tree {
        syn::UseTree::Path(path) => {
            prefix.push(path.ident.to_string());
            collect_uses(module, &path.tree, prefix, uses);
        }
        syn::UseTree::Name(name) if name.ident == "self" => {
            if let Some(last) = prefix.last() {
                uses.insert((module.to_vec(), last.clone()), prefix.clone());
            }
        }
        syn::UseTree::Name(name) => {
            prefix.push(name.ident.to_string());
            uses.insert((module.to_vec(), name.ident.to_string()), prefix);
        }
        syn::UseTree::Rename(rename) if rename.rename != "_" => {
            let ident = rename.ident.to_string();
            let full = if ident == "self" {
                prefix
            } else {
                [prefix, vec![ident]].concat()
            };
            uses.insert((module.to_vec(), rename.rename.to_string()), full);
        }
        syn::UseTree::Group(group) => {
            for tree in &group.items {
                collect_uses(module, tree, prefix.clone(), uses);
            }
        }
        syn::UseTree::Rename(_) | syn::UseTree::Glob(_) => {}
    }
}

/// The attributes of an item of any kind.
fn item_attrs(item: &syn::Item) -> &[syn::Attribute] {
    use syn::Item;
    match item {
        Item::Const(x) => &x.attrs,
        Item::Enum(x) => &x.attrs,
        Item::ExternCrate(x) => &x.attrs,
        Item::Fn(x) => &x.attrs,
        Item::ForeignMod(x) => &x.attrs,
        Item::Impl(x) => &x.attrs,
        Item::Macro(x) => &x.attrs,
        Item::Mod(x) => &x.attrs,
        Item::Static(x) => &x.attrs,
        Item::Struct(x) => &x.attrs,
        Item::Trait(x) => &x.attrs,
        Item::TraitAlias(x) => &x.attrs,
        Item::Type(x) => &x.attrs,
        Item::Union(x) => &x.attrs,
        Item::Use(x) => &x.attrs,
        _ => &[],
    }
}

/// Test code: `#[cfg(test)]` (alone or inside `all(..)`), `#[test]`, and
/// test attributes from other crates (`#[tokio::test]`).
pub fn is_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|attr| {
        let path = attr.path();
        if path
            .segments
            .last()
            .is_some_and(|last| last.ident == "test")
        {
            return true;
        }
        path.is_ident("cfg")
            && attr
                .parse_args::<syn::Meta>()
                .is_ok_and(|predicate| requires_test(&predicate))
    })
}

fn requires_test(predicate: &syn::Meta) -> bool {
    match predicate {
        syn::Meta::Path(path) => path.is_ident("test"),
        syn::Meta::List(list) if list.path.is_ident("all") => list
            .parse_args_with(
                syn::punctuated::Punctuated::<syn::Meta, syn::Token![,]>::parse_terminated,
            )
            .is_ok_and(|all| all.iter().any(requires_test)),
        _ => false,
    }
}

/// Walks one file's syntax, test items skipped, collecting what it names.
struct Reader<'a> {
    krate: &'a Crate,
    uses: &'a Uses,
    binary: bool,
    /// The module being read: the file's, or an inline module in it.
    module: Vec<String>,
    names: Vec<Named>,
    macros: Vec<(String, usize)>,
    literals: Vec<(String, usize)>,
}

impl Reader<'_> {
    /// Resolves a path written in the current module.
    fn resolve(&self, segments: &[String]) -> Target {
        resolve(
            self.krate,
            self.uses,
            self.binary,
            &self.module,
            segments,
            0,
        )
    }

    fn name(&mut self, segments: Vec<String>, line: usize) {
        // A method's receiver, `self`, is a value, not the module.
        if segments.is_empty() || segments == ["self"] {
            return;
        }
        let target = self.resolve(&segments);
        self.names.push(Named {
            target,
            written: segments.join("::"),
            line,
        });
    }

    fn use_tree(&mut self, tree: &syn::UseTree, mut prefix: Vec<String>) {
        match tree {
            syn::UseTree::Path(path) => {
                prefix.push(path.ident.to_string());
                self.use_tree(&path.tree, prefix);
            }
            syn::UseTree::Name(syn::UseName { ident })
            | syn::UseTree::Rename(syn::UseRename { ident, .. }) => {
                if ident != "self" {
                    prefix.push(ident.to_string());
                }
                self.name(prefix, ident.span().start().line);
            }
            syn::UseTree::Glob(glob) => self.name(prefix, glob.star_token.span().start().line),
            syn::UseTree::Group(group) => {
                for tree in &group.items {
                    self.use_tree(tree, prefix.clone());
                }
            }
        }
    }

    /// Paths, macro calls and string literals inside tokens that syn keeps
    /// unparsed (macro arguments, attribute arguments).
    fn tokens(&mut self, tokens: TokenStream) {
        let trees: Vec<TokenTree> = tokens.into_iter().collect();
        let mut at = 0;
        while at < trees.len() {
            let after_dot =
                at > 0 && matches!(&trees[at - 1], TokenTree::Punct(p) if p.as_char() == '.');
            match &trees[at] {
                TokenTree::Ident(ident) if !after_dot => {
                    let line = ident.span().start().line;
                    let (segments, next) = path_in_tokens(&trees, at);
                    let bang = matches!(trees.get(next), Some(TokenTree::Punct(p)) if p.as_char() == '!')
                        && matches!(trees.get(next + 1), Some(TokenTree::Group(_)));
                    if bang {
                        self.macros
                            .push((segments.last().cloned().unwrap_or_default(), line));
                    } else {
                        self.name(segments, line);
                    }
                    at = next;
                    continue;
                }
                // `#[doc = ".."]` inside a macro's tokens: prose again.
                TokenTree::Group(group) if is_doc(group.stream()) => {}
                TokenTree::Group(group) => self.tokens(group.stream()),
                TokenTree::Literal(literal) => {
                    let tokens = TokenStream::from(TokenTree::Literal(literal.clone()));
                    if let Ok(text) = syn::parse2::<syn::LitStr>(tokens) {
                        self.literals
                            .push((text.value(), literal.span().start().line));
                    }
                }
                _ => {}
            }
            at += 1;
        }
    }
}

fn is_doc(tokens: TokenStream) -> bool {
    matches!(tokens.into_iter().next(), Some(TokenTree::Ident(ident)) if ident == "doc")
}

/// The path starting at `trees[at]` (`a::b::c`) and the index after it.
fn path_in_tokens(trees: &[TokenTree], at: usize) -> (Vec<String>, usize) {
    let mut segments = Vec::new();
    let mut next = at;
    while let Some(TokenTree::Ident(ident)) = trees.get(next) {
        segments.push(ident.to_string());
        next += 1;
        let colons = matches!(
            (trees.get(next), trees.get(next + 1), trees.get(next + 2)),
            (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)), Some(TokenTree::Ident(_)))
                if a.as_char() == ':' && a.spacing() == Spacing::Joint && b.as_char() == ':'
        );
        if !colons {
            break;
        }
        next += 2;
    }
    (segments, next)
}

/// Resolves `segments` written in `module`: `crate`, `self` and `super`
/// from the module path, a first segment brought in by `use` through what
/// it stands for, a child module's name to the child; anything else is
/// outside the library. `cosinv` is the library as the binary names it.
fn resolve(
    krate: &Crate,
    uses: &Uses,
    binary: bool,
    module: &[String],
    segments: &[String],
    depth: usize,
) -> Target {
    let first = segments[0].as_str();
    let rest = &segments[1..];
    match first {
        // `::name`: always another crate.
        "" => Target::Outside(rest.to_vec()),
        "crate" if !binary => Target::Crate(rest.to_vec()),
        "cosinv" => Target::Crate(rest.to_vec()),
        "self" => Target::Crate([module, rest].concat()),
        "super" => {
            let ups = segments.iter().take_while(|s| *s == "super").count();
            let base = &module[..module.len().saturating_sub(ups)];
            Target::Crate([base, &segments[ups..]].concat())
        }
        _ => {
            let key = (module.to_vec(), first.to_string());
            match uses.get(&key) {
                // A `use x;` of an outside crate stands for itself.
                Some(stands_for) if depth < 8 && stands_for != &segments[..1] => {
                    let full = [stands_for.as_slice(), rest].concat();
                    resolve(krate, uses, binary, module, &full, depth + 1)
                }
                _ if segments.len() > 1
                    && !binary
                    && krate
                        .modules
                        .contains_key(&[module, &segments[..1]].concat()) =>
                {
                    Target::Crate([module, segments].concat())
                }
                _ => Target::Outside(segments.to_vec()),
            }
        }
    }
}

fn segments_of(path: &syn::Path) -> Vec<String> {
    path.segments
        .iter()
        .map(|segment| segment.ident.to_string())
        .collect()
}

impl<'ast> Visit<'ast> for Reader<'_> {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        if is_test(item_attrs(item)) {
            return;
        }
        match item {
            syn::Item::Mod(inner) => {
                for attr in &inner.attrs {
                    self.visit_attribute(attr);
                }
                if let Some((_, items)) = &inner.content {
                    self.module.push(inner.ident.to_string());
                    for item in items {
                        self.visit_item(item);
                    }
                    self.module.pop();
                }
            }
            syn::Item::Use(used) => {
                for attr in &used.attrs {
                    self.visit_attribute(attr);
                }
                let mut prefix = Vec::new();
                if used.leading_colon.is_some() {
                    prefix.push(String::new());
                }
                self.use_tree(&used.tree, prefix);
            }
            _ => visit::visit_item(self, item),
        }
    }

    fn visit_impl_item(&mut self, item: &'ast syn::ImplItem) {
        let attrs = match item {
            syn::ImplItem::Const(x) => &x.attrs,
            syn::ImplItem::Fn(x) => &x.attrs,
            syn::ImplItem::Type(x) => &x.attrs,
            syn::ImplItem::Macro(x) => &x.attrs,
            _ => return visit::visit_impl_item(self, item),
        };
        if !is_test(attrs) {
            visit::visit_impl_item(self, item);
        }
    }

    fn visit_trait_item(&mut self, item: &'ast syn::TraitItem) {
        let attrs = match item {
            syn::TraitItem::Const(x) => &x.attrs,
            syn::TraitItem::Fn(x) => &x.attrs,
            syn::TraitItem::Type(x) => &x.attrs,
            syn::TraitItem::Macro(x) => &x.attrs,
            _ => return visit::visit_trait_item(self, item),
        };
        if !is_test(attrs) {
            visit::visit_trait_item(self, item);
        }
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let mut segments = segments_of(path);
        if path.leading_colon.is_some() {
            segments.insert(0, String::new());
        }
        self.name(segments, path.span().start().line);
        visit::visit_path(self, path);
    }

    /// `pub(crate)`, `pub(super)` say who may see an item, not what it uses.
    fn visit_visibility(&mut self, _: &'ast syn::Visibility) {}

    fn visit_macro(&mut self, called: &'ast syn::Macro) {
        let line = called.path.span().start().line;
        let name = called.path.segments.last().map(|s| s.ident.to_string());
        self.macros.push((name.unwrap_or_default(), line));
        if called.path.segments.len() > 1 {
            self.visit_path(&called.path);
        }
        self.tokens(called.tokens.clone());
    }

    fn visit_attribute(&mut self, attr: &'ast syn::Attribute) {
        match &attr.meta {
            // Doc comments are prose: they may name flags and paths freely.
            syn::Meta::NameValue(doc) if doc.path.is_ident("doc") => {}
            syn::Meta::NameValue(value) => self.visit_expr(&value.value),
            syn::Meta::List(list) => {
                if list.path.segments.len() > 1 {
                    self.visit_path(&list.path);
                }
                self.tokens(list.tokens.clone());
            }
            syn::Meta::Path(path) => {
                if path.segments.len() > 1 {
                    self.visit_path(path);
                }
            }
        }
    }

    fn visit_lit_str(&mut self, literal: &'ast syn::LitStr) {
        self.literals
            .push((literal.value(), literal.span().start().line));
    }
}

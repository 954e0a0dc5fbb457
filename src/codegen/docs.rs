//! Doc lines on the generated code.
//!
//! Every public type, field and variant graphql_client generates gets one: from the doc lines
//! file ([`DOCS_FILE`], beside the operations) where it stands for a Plain type, field or enum
//! value, and written here where it is the generator's own (an operation, its module, its
//! variables, an alias). Which Plain type a generated struct stands for is read by walking the
//! answer from `ResponseData` (the operation's root type) field by field through the schema,
//! and the variables from their declared types.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use quote::ToTokens;
use syn::Item;

use super::shape::{is_pub, wire_names};
use crate::schema_check::{self, Kind, OperationInfo, Schema};

/// The doc lines file's name inside the `graphql/` folder: one line per schema coordinate
/// (`Type`, `Type.field`, `Enum.VALUE`), a colon, and the doc; `#` starts a comment line.
pub const DOCS_FILE: &str = "docs.txt";

/// The doc lines of a [`DOCS_FILE`], by schema coordinate.
#[derive(Debug, Clone, Default)]
pub struct DocLines(BTreeMap<String, String>);

impl DocLines {
    /// Reads the text of a doc lines file; a malformed or repeated line is an error naming it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut lines = BTreeMap::new();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let number = index + 1;
            let Some((coordinate, doc)) = line.split_once(':') else {
                return Err(format!("line {number}: expected `Type.field: doc`"));
            };
            let (coordinate, doc) = (coordinate.trim(), doc.trim());
            let well_formed = !coordinate.is_empty()
                && coordinate
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
            if !well_formed || doc.is_empty() {
                return Err(format!("line {number}: expected `Type.field: doc`"));
            }
            if lines
                .insert(coordinate.to_owned(), doc.to_owned())
                .is_some()
            {
                return Err(format!("line {number}: a second line for `{coordinate}`"));
            }
        }
        Ok(Self(lines))
    }

    /// The doc of a schema coordinate, if there is a line for it.
    pub fn get(&self, coordinate: &str) -> Option<&str> {
        self.0.get(coordinate).map(String::as_str)
    }

    /// Every coordinate that has a line, in order.
    pub fn coordinates(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

/// Documents the items of one operation's generated code (the operation's struct, its module
/// and everything public in it) from `lines`, read from `lines_file`. A Plain coordinate with
/// no line is an error naming it.
pub fn document(
    items: &mut [Item],
    schema: &Schema,
    operation: &OperationInfo,
    lines: &DocLines,
    lines_file: &Path,
) -> Result<(), String> {
    let name = &operation.name;
    let mut missing = BTreeSet::new();
    for item in items.iter_mut() {
        match item {
            Item::Struct(unit) if unit.fields.is_empty() && is_pub(&unit.vis) => set_doc(
                &mut unit.attrs,
                &format!(
                    "The `{name}` operation, for graphql_client: its document and the types of its \
                     variables and answer."
                ),
            ),
            Item::Mod(module) => {
                set_doc(
                    &mut module.attrs,
                    &format!("The types of the `{name}` operation."),
                );
                if let Some((_, content)) = &mut module.content {
                    let mut plain = PlainDocs {
                        lines,
                        missing: &mut missing,
                    };
                    document_module(content, schema, operation, &mut plain)?;
                }
            }
            _ => {}
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let missing: Vec<String> = missing.into_iter().map(|c| format!("`{c}`")).collect();
    Err(format!(
        "no doc line for {}: add one to {}",
        missing.join(", "),
        lines_file.display()
    ))
}

/// The public items (and fields, variants, associated functions) of `items` that have no doc,
/// by path: `shared::Customer.full_name`.
pub fn undocumented(items: &[Item]) -> Vec<String> {
    let mut out = Vec::new();
    collect_undocumented(items, "", &mut out);
    out
}

fn collect_undocumented(items: &[Item], prefix: &str, out: &mut Vec<String>) {
    for item in items {
        match item {
            Item::Struct(s) if is_pub(&s.vis) => {
                let path = format!("{prefix}{}", s.ident);
                for field in s.fields.iter().filter(|f| is_pub(&f.vis)) {
                    let field_name = field.ident.as_ref().map(ToString::to_string);
                    let field_path = format!("{path}.{}", field_name.unwrap_or_default());
                    note(&field.attrs, field_path, out);
                }
                note(&s.attrs, path, out);
            }
            Item::Enum(e) if is_pub(&e.vis) => {
                let path = format!("{prefix}{}", e.ident);
                for variant in &e.variants {
                    note(&variant.attrs, format!("{path}::{}", variant.ident), out);
                }
                note(&e.attrs, path, out);
            }
            Item::Type(t) if is_pub(&t.vis) => note(&t.attrs, format!("{prefix}{}", t.ident), out),
            Item::Const(c) if is_pub(&c.vis) => note(&c.attrs, format!("{prefix}{}", c.ident), out),
            Item::Fn(f) if is_pub(&f.vis) => {
                note(&f.attrs, format!("{prefix}{}", f.sig.ident), out);
            }
            Item::Impl(block) if block.trait_.is_none() => {
                let owner = block.self_ty.to_token_stream().to_string();
                for member in &block.items {
                    if let syn::ImplItem::Fn(f) = member {
                        if is_pub(&f.vis) {
                            note(&f.attrs, format!("{prefix}{owner}::{}", f.sig.ident), out);
                        }
                    }
                }
            }
            Item::Mod(m) if is_pub(&m.vis) => {
                let path = format!("{prefix}{}", m.ident);
                if let Some((_, content)) = &m.content {
                    collect_undocumented(content, &format!("{path}::"), out);
                }
                note(&m.attrs, path, out);
            }
            _ => {}
        }
    }
}

/// Adds `path` to `out` when `attrs` hold no doc.
fn note(attrs: &[syn::Attribute], path: String, out: &mut Vec<String>) {
    if !has_doc(attrs) {
        out.push(path);
    }
}

fn has_doc(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| a.path().is_ident("doc"))
}

fn set_doc(attrs: &mut Vec<syn::Attribute>, text: &str) {
    let text = format!(" {text}");
    attrs.insert(0, syn::parse_quote!(#[doc = #text]));
}

/// The doc lines, and the coordinates asked for that have none.
struct PlainDocs<'a> {
    lines: &'a DocLines,
    missing: &'a mut BTreeSet<String>,
}

impl PlainDocs<'_> {
    /// The doc line of a Plain coordinate, or the coordinate noted as missing and an empty line.
    fn doc(&mut self, coordinate: String) -> String {
        match self.lines.get(&coordinate) {
            Some(doc) => doc.to_owned(),
            None => {
                self.missing.insert(coordinate);
                String::new()
            }
        }
    }
}

/// How a generated field reads its Plain field: the name in the answer, and whether it is a
/// fragment's fields read from the same object (`#[serde(flatten)]`).
fn wire_field(field: &syn::Field) -> (String, bool) {
    let mut name = field
        .ident
        .as_ref()
        .map(|i| i.to_string().trim_start_matches("r#").to_owned())
        .unwrap_or_default();
    let mut flatten = false;
    for attr in field.attrs.iter().filter(|a| a.path().is_ident("serde")) {
        // Anything that does not parse keeps the field's own name; an unknown field is then
        // reported by the walk.
        let _ = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("flatten") {
                flatten = true;
            } else if meta.path.is_ident("rename") {
                let text: syn::LitStr = meta.value()?.parse()?;
                name = text.value();
            } else if meta.input.peek(syn::Token![=]) {
                let _: syn::Expr = meta.value()?.parse()?;
            }
            Ok(())
        });
    }
    (name, flatten)
}

/// The type a field holds, through `Option`, `Vec` and `Box`, if it is a single name.
fn held_type(ty: &syn::Type) -> Option<String> {
    let syn::Type::Path(path) = ty else {
        return None;
    };
    let last = path.path.segments.last()?;
    if let syn::PathArguments::AngleBracketed(args) = &last.arguments {
        if ["Option", "Vec", "Box"].contains(&last.ident.to_string().as_str()) {
            return args.args.iter().find_map(|arg| match arg {
                syn::GenericArgument::Type(inner) => held_type(inner),
                _ => None,
            });
        }
    }
    (path.path.segments.len() == 1).then(|| last.ident.to_string())
}

/// What one operation module holds, by name.
struct Module<'a> {
    structs: BTreeMap<String, &'a syn::ItemStruct>,
    enums: BTreeSet<String>,
    aliases: BTreeMap<String, &'a syn::Type>,
    /// Each enum's variants with the values Plain spells them with.
    wires: BTreeMap<String, BTreeMap<String, String>>,
}

impl<'a> Module<'a> {
    fn read(items: &'a [Item]) -> Self {
        let mut module = Module {
            structs: BTreeMap::new(),
            enums: BTreeSet::new(),
            aliases: BTreeMap::new(),
            wires: BTreeMap::new(),
        };
        for item in items {
            match item {
                Item::Struct(s) => {
                    module.structs.insert(s.ident.to_string(), s);
                }
                Item::Enum(e) => {
                    module.enums.insert(e.ident.to_string());
                }
                Item::Type(t) => {
                    module.aliases.insert(t.ident.to_string(), &t.ty);
                }
                Item::Impl(block) => {
                    let owner = block.self_ty.to_token_stream().to_string();
                    if let Some(names) = wire_names(block) {
                        let names = names.into_iter().map(|(v, w)| (v.to_string(), w));
                        module.wires.insert(owner, names.collect());
                    }
                }
                _ => {}
            }
        }
        module
    }

    /// The struct or enum a type name stands for, through aliases.
    fn resolve(&self, mut name: String) -> Option<String> {
        for _ in 0..8 {
            if self.structs.contains_key(&name) || self.enums.contains(&name) {
                return Some(name);
            }
            name = held_type(self.aliases.get(&name)?)?;
        }
        None
    }

    /// The Plain type of every struct and enum that stands for one.
    fn plain_types(&self, schema: &Schema, operation: &OperationInfo) -> BTreeMap<String, String> {
        let mut types = BTreeMap::new();
        types.insert("ResponseData".to_owned(), operation.root.clone());
        for (fragment, on) in &operation.fragments {
            types.insert(fragment.clone(), on.clone());
        }
        let named = self.structs.keys().chain(&self.enums);
        for name in named.filter(|name| {
            schema
                .types
                .get(*name)
                .is_some_and(|t| matches!(t.kind, Kind::InputObject | Kind::Enum))
        }) {
            types.insert(name.clone(), name.clone());
        }
        if let Some(variables) = self.structs.get("Variables") {
            for field in &variables.fields {
                let (wire, _) = wire_field(field);
                let declared = operation.variables.iter().find(|v| v.name == wire);
                let held = held_type(&field.ty).and_then(|t| self.resolve(t));
                if let (Some(declared), Some(held)) = (declared, held) {
                    types
                        .entry(held)
                        .or_insert_with(|| declared.type_name.clone());
                }
            }
        }
        let mut queue: Vec<String> = types.keys().cloned().collect();
        while let Some(name) = queue.pop() {
            let (Some(structure), Some(plain)) =
                (self.structs.get(&name), types.get(&name).cloned())
            else {
                continue;
            };
            for field in &structure.fields {
                let (wire, flatten) = wire_field(field);
                let field_type = if flatten {
                    Some(plain.clone())
                } else {
                    schema
                        .types
                        .get(&plain)
                        .and_then(|t| t.fields.iter().find(|f| f.name == wire))
                        .map(|f| schema_check::named_type(&f.ty).to_owned())
                };
                let held = held_type(&field.ty).and_then(|t| self.resolve(t));
                if let (Some(field_type), Some(held)) = (field_type, held) {
                    if !types.contains_key(&held) {
                        types.insert(held.clone(), field_type);
                        queue.push(held);
                    }
                }
            }
        }
        types
    }
}

/// The docs of everything public in one operation module.
fn document_module(
    items: &mut [Item],
    schema: &Schema,
    operation: &OperationInfo,
    plain_docs: &mut PlainDocs<'_>,
) -> Result<(), String> {
    let (types, wires) = {
        let module = Module::read(items);
        (module.plain_types(schema, operation), module.wires)
    };
    let name = &operation.name;
    for item in items.iter_mut() {
        match item {
            Item::Const(c) if is_pub(&c.vis) => {
                let doc = match c.ident.to_string().as_str() {
                    "QUERY" => "The operation's GraphQL document, exactly as it is sent.",
                    "OPERATION_NAME" => "The operation's name, as it is sent in `operationName`.",
                    _ => "A constant of the operation.",
                };
                set_doc(&mut c.attrs, doc);
            }
            Item::Type(alias) if is_pub(&alias.vis) => {
                let target = alias.ty.to_token_stream().to_string().replace(' ', "");
                set_doc(&mut alias.attrs, &format!("Another name for `{target}`."));
            }
            Item::Struct(s) if is_pub(&s.vis) => {
                let ident = s.ident.to_string();
                if ident == "Variables" {
                    set_doc(&mut s.attrs, &format!("The variables of `{name}`."));
                    for field in s.fields.iter_mut() {
                        let (wire, _) = wire_field(field);
                        set_doc(&mut field.attrs, &format!("The `${wire}` variable."));
                    }
                    continue;
                }
                let Some(plain) = types.get(&ident) else {
                    return Err(format!(
                        "cannot tell which Plain type the generated struct `{ident}` stands for"
                    ));
                };
                let doc = if ident == "ResponseData" {
                    format!("The `data` of an answer to `{name}`.")
                } else {
                    plain_docs.doc(plain.clone())
                };
                set_doc(&mut s.attrs, &doc);
                for field in s.fields.iter_mut() {
                    let (wire, flatten) = wire_field(field);
                    let doc = if flatten {
                        let fragment = held_type(&field.ty).unwrap_or_default();
                        format!(
                            "The fields of the `{fragment}` fragment, read from the same object."
                        )
                    } else if wire == "__typename" {
                        "The name of the object's type in Plain's schema.".to_owned()
                    } else {
                        plain_docs.doc(format!("{plain}.{wire}"))
                    };
                    set_doc(&mut field.attrs, &doc);
                }
            }
            Item::Enum(e) if is_pub(&e.vis) => {
                let ident = e.ident.to_string();
                let Some(plain) = types.get(&ident) else {
                    return Err(format!(
                        "cannot tell which Plain type the generated enum `{ident}` stands for"
                    ));
                };
                set_doc(&mut e.attrs, &plain_docs.doc(plain.clone()));
                let wire = wires.get(&ident);
                for variant in e.variants.iter_mut() {
                    // graphql_client's catch-all (`Other(String)`) is replaced when enums are
                    // shaped; it has no Plain value.
                    let Some(value) = wire.and_then(|w| w.get(&variant.ident.to_string())) else {
                        continue;
                    };
                    let doc = plain_docs.doc(format!("{plain}.{value}"));
                    set_doc(&mut variant.attrs, &doc);
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn committed(file: &str) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("graphql")
            .join(file);
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn every_doc_line_names_a_coordinate_of_the_vendored_schema() {
        let schema = schema_check::parse_schema(&committed(super::super::SCHEMA_FILE)).unwrap();
        let lines = DocLines::parse(&committed(DOCS_FILE)).unwrap();
        assert!(lines.coordinates().count() > 100);
        for coordinate in lines.coordinates() {
            let (type_name, member) = match coordinate.split_once('.') {
                Some((t, m)) => (t, Some(m)),
                None => (coordinate, None),
            };
            let def = schema.types.get(type_name);
            let found = match (def, member) {
                (Some(_), None) => true,
                (Some(def), Some(m)) => {
                    def.fields.iter().any(|f| f.name == m) || def.values.iter().any(|v| v == m)
                }
                (None, _) => false,
            };
            assert!(found, "{coordinate} is not in graphql/schema.graphql");
        }
    }

    #[test]
    fn a_malformed_or_repeated_line_is_named() {
        let lines = DocLines::parse("# comment\n\nCustomer.id: Plain's id: `c_...`.\n").unwrap();
        assert_eq!(lines.get("Customer.id"), Some("Plain's id: `c_...`."));
        for (text, error) in [
            ("Customer.id\n", "line 1: expected `Type.field: doc`"),
            ("\nCustomer id: x\n", "line 2: expected `Type.field: doc`"),
            ("Customer.id:\n", "line 1: expected `Type.field: doc`"),
            ("A: x\nA: y\n", "line 2: a second line for `A`"),
        ] {
            assert_eq!(DocLines::parse(text).unwrap_err(), error, "{text:?}");
        }
    }

    #[test]
    fn a_field_without_a_doc_line_is_named() {
        let schema = schema_check::parse_schema(
            "type Query { someone: Customer } type Customer { id: ID! nickname: String }",
        )
        .unwrap();
        let operation =
            schema_check::check_operation(&schema, "query q { someone { id nickname } }").unwrap();
        let mut items: Vec<Item> = vec![syn::parse_quote! {
            pub mod q {
                pub struct ResponseData { pub someone: Option<QSomeone> }
                pub struct QSomeone { pub id: ID, pub nickname: Option<String> }
            }
        }];
        let lines = DocLines::parse("Query: The root.\nCustomer.id: The id.").unwrap();
        let error = document(
            &mut items,
            &schema,
            &operation,
            &lines,
            Path::new("docs.txt"),
        )
        .unwrap_err();
        assert!(error.ends_with(": add one to docs.txt"), "{error}");
        assert!(error.contains("`Customer.nickname`"), "{error}");
        assert!(!error.contains("`Customer.id`"), "{error}");
        assert!(error.contains("`Query.someone`"), "{error}");
    }

    #[test]
    fn undocumented_items_are_listed_by_path() {
        let items: Vec<Item> = vec![syn::parse_quote! {
            /// Documented.
            pub mod m {
                /// Documented.
                pub struct S {
                    /// Documented.
                    pub a: String,
                    pub b: String,
                }
                pub enum E { A }
                type Private = String;
            }
        }];
        assert_eq!(undocumented(&items), ["m::S.b", "m::E::A", "m::E"]);
    }
}

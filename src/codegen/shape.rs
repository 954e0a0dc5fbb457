//! Shapes graphql_client's output into the types a Rust user expects.
//!
//! - **One type per Plain type.** graphql_client writes a module per operation, each with its
//!   own copy of every fragment's types: `upsert_customer::Customer` and
//!   `customer_by_id::Customer` would be two types for one Plain `Customer`. Every public
//!   type that two or more operations generate identically (a fragment on `Customer`, on
//!   `MutationError`, the enums they use) is moved once into a module `shared`, and each
//!   operation's module re-exports it from there.
//! - **Enums a Rust user can key a map with.** graphql_client ends every enum with an
//!   `Other(String)` variant, which rules out `Copy` and makes a value Plain adds later change
//!   from `Other("X")` to a new variant without a compile error. Each enum is rewritten
//!   `Hash` and `#[non_exhaustive]`, with an `Unknown(String)` variant that keeps the text of
//!   a value this version does not know, `as_str` and `Display` in Plain's spelling (a new
//!   value printed and logged exactly as Plain sent it).
//! - **Answers Plain may extend are `#[non_exhaustive]`**: every response struct.
//! - **`ID` in variables.** graphql_client's Rust normalization names the `ID` scalar `Id` in
//!   input types while declaring only `type ID = String`; an alias `Id` is added beside it.

use std::collections::{BTreeMap, BTreeSet};

use quote::ToTokens;
use syn::{parse_quote, Item};

/// The module the shared types go to.
pub const SHARED: &str = "shared";

/// Shapes the items of one generated file (its operation modules and their `impl`s).
pub fn shape(items: &mut [Item]) {
    for item in items.iter_mut() {
        if let Some(content) = module_items(item) {
            alias_id(content);
            reshape_enums(content);
            mark_answers_non_exhaustive(content);
        }
    }
}

/// Moves the public types that several operation modules generate identically into one
/// module, `shared`, that each of them re-exports from.
pub fn share(items: &mut Vec<Item>) {
    let modules: Vec<BTreeMap<String, Group>> = items
        .iter_mut()
        .filter_map(module_items)
        .map(|content| groups(content))
        .collect();
    let mut seen: BTreeMap<String, (String, usize)> = BTreeMap::new();
    let mut differ = BTreeSet::new();
    for module in &modules {
        for (name, group) in module {
            match seen.get_mut(name) {
                Some((tokens, count)) if *tokens == group.tokens => *count += 1,
                Some(_) => {
                    differ.insert(name.clone());
                }
                None => {
                    seen.insert(name.clone(), (group.tokens.clone(), 1));
                }
            }
        }
    }
    let mut shared: BTreeSet<String> = seen
        .iter()
        .filter(|(name, (_, count))| *count > 1 && !differ.contains(*name))
        .map(|(name, _)| name.clone())
        .collect();
    // A shared type may only refer to shared types.
    loop {
        let before = shared.len();
        let kept: BTreeSet<String> = shared
            .iter()
            .filter(|name| {
                modules.iter().all(|module| {
                    module.get(*name).is_none_or(|group| {
                        group
                            .refers_to
                            .iter()
                            .all(|r| !module.contains_key(r) || shared.contains(r))
                    })
                })
            })
            .cloned()
            .collect();
        shared = kept;
        if shared.len() == before {
            break;
        }
    }
    if shared.is_empty() {
        return;
    }
    let mut moved: Vec<Item> = Vec::new();
    let mut scalars: Vec<Item> = Vec::new();
    for item in items.iter_mut() {
        let Some(content) = module_items(item) else {
            continue;
        };
        let mut names = Vec::new();
        let mut kept = Vec::new();
        for item in content.drain(..) {
            match type_name(&item).filter(|name| shared.contains(name)) {
                Some(name) => {
                    if !moved_already(&moved, &item) {
                        moved.push(item);
                    }
                    if !names.contains(&name) {
                        names.push(name);
                    }
                }
                None => {
                    if scalars.len() < 8
                        && is_private_alias(&item)
                        && !moved_already(&scalars, &item)
                    {
                        scalars.push(item.clone());
                    }
                    kept.push(item);
                }
            }
        }
        let names: Vec<syn::Ident> = names
            .iter()
            .map(|n| syn::Ident::new(n, proc_span()))
            .collect();
        if !names.is_empty() {
            kept.push(parse_quote!(pub use super::shared::{#(#names),*};));
        }
        *content = kept;
    }
    let shared_module: Item = parse_quote! {
        /// Types that several operations share: one Rust type for each Plain type.
        pub mod shared {
            #![allow(dead_code)]
            use std::result::Result;
            use ::serde::{Serialize, Deserialize};
            #(#scalars)*
            #(#moved)*
        }
    };
    items.insert(0, shared_module);
}

fn proc_span() -> proc_macro2::Span {
    proc_macro2::Span::call_site()
}

fn moved_already(moved: &[Item], item: &Item) -> bool {
    let tokens = item.to_token_stream().to_string();
    moved
        .iter()
        .any(|m| m.to_token_stream().to_string() == tokens)
}

fn is_private_alias(item: &Item) -> bool {
    matches!(item, Item::Type(alias) if matches!(alias.vis, syn::Visibility::Inherited))
}

/// The items of an inline module.
pub fn module_items(item: &mut Item) -> Option<&mut Vec<Item>> {
    match item {
        Item::Mod(module) => module.content.as_mut().map(|(_, items)| items),
        _ => None,
    }
}

/// A public type with its `impl`s, as one unit.
struct Group {
    tokens: String,
    refers_to: BTreeSet<String>,
}

/// The public type a module item defines or implements, by name.
fn type_name(item: &Item) -> Option<String> {
    match item {
        Item::Struct(s) if is_pub(&s.vis) => Some(s.ident.to_string()),
        Item::Enum(e) if is_pub(&e.vis) => Some(e.ident.to_string()),
        Item::Type(t) if is_pub(&t.vis) => Some(t.ident.to_string()),
        Item::Impl(i) => self_name(i),
        _ => None,
    }
}

/// Whether an item or field is `pub`.
pub fn is_pub(vis: &syn::Visibility) -> bool {
    matches!(vis, syn::Visibility::Public(_))
}

fn groups(items: &[Item]) -> BTreeMap<String, Group> {
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for item in items {
        let Some(name) = type_name(item) else {
            continue;
        };
        let tokens = item.to_token_stream();
        let group = groups.entry(name.clone()).or_insert_with(|| Group {
            tokens: String::new(),
            refers_to: BTreeSet::new(),
        });
        group.tokens.push_str(&tokens.to_string());
        idents(tokens, &mut group.refers_to);
        group.refers_to.remove(&name);
    }
    groups
}

fn idents(tokens: proc_macro2::TokenStream, out: &mut BTreeSet<String>) {
    for token in tokens {
        match token {
            proc_macro2::TokenTree::Ident(ident) => {
                out.insert(ident.to_string());
            }
            proc_macro2::TokenTree::Group(group) => idents(group.stream(), out),
            _ => {}
        }
    }
}

/// The name of the type an `impl` block is for.
fn self_name(item: &syn::ItemImpl) -> Option<String> {
    match &*item.self_ty {
        syn::Type::Path(path) => path.path.get_ident().map(ToString::to_string),
        _ => None,
    }
}

fn alias_id(items: &mut Vec<Item>) {
    let has_id = items
        .iter()
        .any(|item| matches!(item, Item::Type(alias) if alias.ident == "ID"));
    if has_id {
        items.push(parse_quote! {
            #[allow(dead_code)]
            type Id = String;
        });
    }
}

fn mark_answers_non_exhaustive(items: &mut [Item]) {
    for item in items {
        let Item::Struct(structure) = item else {
            continue;
        };
        let derives_deserialize = structure.attrs.iter().any(|a| {
            a.path().is_ident("derive") && a.to_token_stream().to_string().contains("Deserialize")
        });
        if derives_deserialize {
            structure.attrs.push(parse_quote!(#[non_exhaustive]));
        }
    }
}

/// The variants of an enum with the strings Plain spells them with, read from the
/// `Serialize` impl graphql_client writes (`Enum::Variant => "WIRE"`).
pub fn wire_names(item: &syn::ItemImpl) -> Option<Vec<(syn::Ident, String)>> {
    let trait_path = &item.trait_.as_ref()?.1;
    if trait_path.segments.last()?.ident != "Serialize" {
        return None;
    }
    let syn::ImplItem::Fn(function) = item.items.first()? else {
        return None;
    };
    let syn::Stmt::Expr(syn::Expr::MethodCall(call), _) = function.block.stmts.first()? else {
        return None;
    };
    let syn::Expr::Match(matched) = call.args.first()? else {
        return None;
    };
    let mut names = Vec::new();
    for arm in &matched.arms {
        let (syn::Pat::Path(path), syn::Expr::Lit(lit)) = (&arm.pat, &*arm.body) else {
            continue;
        };
        let syn::Lit::Str(wire) = &lit.lit else {
            continue;
        };
        names.push((path.path.segments.last()?.ident.clone(), wire.value()));
    }
    Some(names)
}

fn reshape_enums(items: &mut Vec<Item>) {
    let mut enums: BTreeMap<String, Vec<(syn::Ident, String)>> = BTreeMap::new();
    for item in items.iter() {
        if let Item::Impl(implementation) = item {
            if let (Some(name), Some(names)) =
                (self_name(implementation), wire_names(implementation))
            {
                enums.insert(name, names);
            }
        }
    }
    let mut out = Vec::with_capacity(items.len());
    for item in items.drain(..) {
        match &item {
            Item::Enum(e) => match enums.get(&e.ident.to_string()) {
                Some(names) => out.extend(fieldless_enum(e, names)),
                None => out.push(item),
            },
            Item::Impl(i)
                if i.trait_.is_some() && self_name(i).is_some_and(|n| enums.contains_key(&n)) => {}
            _ => out.push(item),
        }
    }
    *items = out;
}

/// The enum rewritten, keeping the docs of the enum and of its variants.
fn fieldless_enum(generated: &syn::ItemEnum, names: &[(syn::Ident, String)]) -> Vec<Item> {
    let name = &generated.ident;
    let docs = |attrs: &[syn::Attribute]| -> Vec<syn::Attribute> {
        attrs
            .iter()
            .filter(|a| a.path().is_ident("doc"))
            .cloned()
            .collect()
    };
    let enum_docs = docs(&generated.attrs);
    let variants: Vec<&syn::Ident> = names.iter().map(|(v, _)| v).collect();
    let documented_variants = variants.iter().map(|variant| {
        let found = generated.variants.iter().find(|v| v.ident == **variant);
        let variant_docs = found.map(|v| docs(&v.attrs)).unwrap_or_default();
        quote::quote!(#(#variant_docs)* #variant)
    });
    let wires: Vec<&String> = names.iter().map(|(_, w)| w).collect();
    let file: syn::File = parse_quote! {
        #(#enum_docs)*
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum #name {
            #(#documented_variants,)*
            /// A value that Plain sent and this version of the crate does not know yet: its
            /// text, exactly as Plain sent it.
            Unknown(String),
        }
        impl #name {
            /// The value as Plain spells it (for [`Self::Unknown`], the text Plain sent).
            pub fn as_str(&self) -> &str {
                match self {
                    #(#name::#variants => #wires,)*
                    #name::Unknown(text) => text,
                }
            }
        }
        impl ::std::fmt::Display for #name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl ::serde::Serialize for #name {
            fn serialize<S: ::serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
                ser.serialize_str(self.as_str())
            }
        }
        impl<'de> ::serde::Deserialize<'de> for #name {
            fn deserialize<D: ::serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s: ::std::borrow::Cow<'de, str> = ::serde::Deserialize::deserialize(deserializer)?;
                Ok(match &*s {
                    #(#wires => #name::#variants,)*
                    _ => #name::Unknown(s.into_owned()),
                })
            }
        }
    };
    file.items
}

/// Adds each `(type, field)` of `fields` (the field as Rust source, an `Option`) to the struct
/// of that name in the shared module. A type that is not there gets nothing: the code that
/// fills the field then fails to compile, naming it.
///
/// A struct that gets a field has its `Debug` written out instead of derived: the same as the
/// derived one, with each added field left out while it is `None`, so that an answer that does
/// not select it prints exactly as before the field existed.
pub fn add_fields(items: &mut [Item], fields: &[(&str, &str)]) {
    use syn::parse::Parser;
    for item in items.iter_mut() {
        let Item::Mod(module) = item else {
            continue;
        };
        if module.ident != SHARED {
            continue;
        }
        let Some((_, content)) = &mut module.content else {
            continue;
        };
        let mut impls = Vec::new();
        for item in content.iter_mut() {
            let Item::Struct(structure) = item else {
                continue;
            };
            let mut added = Vec::new();
            for (type_name, source) in fields {
                if structure.ident != type_name {
                    continue;
                }
                let field = syn::Field::parse_named
                    .parse_str(source)
                    .unwrap_or_else(|e| panic!("a hand-written field of {type_name}: {e}"));
                if let syn::Fields::Named(named) = &mut structure.fields {
                    added.extend(field.ident.clone());
                    named.named.push(field);
                }
            }
            if !added.is_empty() {
                impls.push(debug_leaving_out_absent(structure, &added));
            }
        }
        content.extend(impls);
    }
}

/// Takes `Debug` out of the struct's derives and returns an `impl Debug` that prints what the
/// derived one would, but for the fields of `optional` that are `None`.
fn debug_leaving_out_absent(structure: &mut syn::ItemStruct, optional: &[syn::Ident]) -> Item {
    use syn::punctuated::Punctuated;
    for attr in &mut structure.attrs {
        if !attr.path().is_ident("derive") {
            continue;
        }
        let Ok(derives) =
            attr.parse_args_with(Punctuated::<syn::Path, syn::Token![,]>::parse_terminated)
        else {
            continue;
        };
        let kept = derives.iter().filter(|path| !path.is_ident("Debug"));
        *attr = parse_quote!(#[derive(#(#kept),*)]);
    }
    let name = &structure.ident;
    let text = name.to_string();
    let fields = structure.fields.iter().filter_map(|field| {
        let ident = field.ident.as_ref()?;
        let label = ident.to_string();
        Some(if optional.contains(ident) {
            quote::quote! {
                if self.#ident.is_some() {
                    out.field(#label, &self.#ident);
                }
            }
        } else {
            quote::quote! { out.field(#label, &self.#ident); }
        })
    });
    parse_quote! {
        impl ::std::fmt::Debug for #name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                let mut out = f.debug_struct(#text);
                #(#fields)*
                out.finish()
            }
        }
    }
}

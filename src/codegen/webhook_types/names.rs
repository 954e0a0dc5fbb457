//! Rust names for the webhook schema's names: of types, fields, variants and event types.

use std::collections::BTreeSet;

/// The Rust name of the union a `$ref` to one of its branches points into:
/// `#/definitions/internalActor/anyOf/0` is in `InternalActor`, and
/// `#/definitions/timelineEntry/properties/entry/anyOf/0` in `TimelineEntryEntry`, the names
/// [`super::Generator::type_of`] gives them. `None` for any other pointer.
pub(super) fn union_home(pointer: &str) -> Option<String> {
    let mut parts: Vec<&str> = pointer.strip_prefix("#/definitions/")?.split('/').collect();
    parts.pop()?.parse::<usize>().ok()?;
    if !matches!(parts.pop()?, "anyOf" | "oneOf") {
        return None;
    }
    let mut parts = parts.into_iter();
    let mut name = camel(parts.next()?);
    while let Some(part) = parts.next() {
        match part {
            "properties" => name.push_str(&camel(parts.next()?)),
            "items" => name.push_str("Item"),
            _ => return None,
        }
    }
    Some(name)
}

/// A variant name for each wire value: `Unknown` is the crate's own, so Plain's `UNKNOWN` is
/// `UnknownValue`; two values of one name are told apart by a trailing `_`.
pub(super) fn variant_names(values: &[String]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    values
        .iter()
        .map(|wire| {
            let mut variant = camel(wire);
            if variant == "Unknown" {
                variant = "UnknownValue".to_owned();
            }
            while !seen.insert(variant.clone()) {
                variant.push('_');
            }
            variant
        })
        .collect()
}

/// `customer.customer_created` → `CustomerCreated`; `thread.email_received` →
/// `ThreadEmailReceived`: the family is said once.
pub(super) fn event_variant(wire: &str) -> String {
    let (family, name) = wire.split_once('.').unwrap_or(("", wire));
    let name = camel(name);
    let family = camel(family);
    if name.starts_with(&family) {
        name
    } else {
        format!("{family}{name}")
    }
}

/// `UpperCamelCase` from camelCase, snake_case, SCREAMING_CASE or dotted text.
pub(super) fn camel(text: &str) -> String {
    let mut out = String::new();
    for part in text.split(|c: char| !c.is_ascii_alphanumeric()) {
        if part.is_empty() {
            continue;
        }
        let screaming = part.chars().all(|c| !c.is_ascii_lowercase());
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.push(first.to_ascii_uppercase());
            if screaming {
                out.extend(chars.map(|c| c.to_ascii_lowercase()));
            } else {
                out.extend(chars);
            }
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, 'V');
    }
    out
}

/// `snake_case` from camelCase, for a field name; keywords are raw identifiers.
pub(super) fn snake(text: &str) -> String {
    let mut out = String::new();
    let mut previous_lower = false;
    for c in text.chars() {
        if c.is_ascii_uppercase() {
            if previous_lower {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
            previous_lower = false;
        } else if c.is_ascii_alphanumeric() {
            out.push(c);
            previous_lower = true;
        } else {
            out.push('_');
            previous_lower = false;
        }
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    const KEYWORDS: &[&str] = &[
        "as", "async", "await", "box", "break", "const", "continue", "crate", "dyn", "else",
        "enum", "extern", "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod",
        "move", "mut", "pub", "ref", "return", "static", "struct", "super", "trait", "true",
        "type", "unsafe", "use", "where", "while", "yield",
    ];
    if KEYWORDS.contains(&out.as_str()) {
        out.insert_str(0, "r#");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(camel("customerGroup"), "CustomerGroup");
        assert_eq!(camel("ADDED"), "Added");
        assert_eq!(snake("webhookTargetId"), "webhook_target_id");
        assert_eq!(snake("type"), "r#type");
        assert_eq!(
            event_variant("customer.customer_created"),
            "CustomerCreated"
        );
        assert_eq!(
            event_variant("thread.email_received"),
            "ThreadEmailReceived"
        );
        assert_eq!(
            union_home("#/definitions/internalActor/anyOf/0").as_deref(),
            Some("InternalActor")
        );
        assert_eq!(
            union_home("#/definitions/timelineEntry/properties/entry/anyOf/0").as_deref(),
            Some("TimelineEntryEntry")
        );
        assert_eq!(union_home("#/definitions/userActor"), None);
        assert_eq!(
            variant_names(&["UNKNOWN".into(), "user".into(), "USER".into()]),
            ["UnknownValue", "User", "User_"]
        );
    }
}

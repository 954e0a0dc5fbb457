//! What kind of operation a GraphQL document holds, found without a full parser: the client
//! needs it to know what may be retried.

/// The kinds of GraphQL operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OperationKind {
    Query,
    Mutation,
    Subscription,
}

/// The kind of the operation named `name` in `document`: the keyword before its name, or a
/// query for the shorthand `{ ... }` when the document has no named operation. Comments and
/// strings are skipped. `None` when it is not there.
pub(crate) fn operation_kind(document: &str, name: &str) -> Option<OperationKind> {
    let tokens = Tokens { rest: document };
    let mut previous: Option<&str> = None;
    let mut depth = 0usize;
    let mut named = false;
    let mut shorthand = false;
    for token in tokens {
        match token {
            "{" => {
                if depth == 0 && previous.is_none() {
                    shorthand = true;
                }
                depth += 1;
            }
            "}" => depth = depth.saturating_sub(1),
            _ if depth == 0 => {
                let kind = match previous {
                    Some("query") => Some(OperationKind::Query),
                    Some("mutation") => Some(OperationKind::Mutation),
                    Some("subscription") => Some(OperationKind::Subscription),
                    _ => None,
                };
                if let Some(kind) = kind {
                    named = true;
                    if token == name {
                        return Some(kind);
                    }
                }
            }
            _ => {}
        }
        if depth == 0 && token != "}" {
            previous = Some(token);
        } else if depth == 0 {
            previous = None;
        }
    }
    (shorthand && !named).then_some(OperationKind::Query)
}

/// Names, punctuation and values of a document, without comments, strings or white space.
struct Tokens<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Tokens<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        loop {
            let text = self
                .rest
                .trim_start_matches(|c: char| c.is_whitespace() || c == ',');
            if let Some(comment) = text.strip_prefix('#') {
                self.rest = comment.find('\n').map_or("", |end| &comment[end..]);
                continue;
            }
            if let Some(block) = text.strip_prefix("\"\"\"") {
                self.rest = block.find("\"\"\"").map_or("", |end| &block[end + 3..]);
                continue;
            }
            if let Some(string) = text.strip_prefix('"') {
                self.rest = skip_string(string);
                continue;
            }
            let first = text.chars().next()?;
            let len = if first.is_alphanumeric() || first == '_' {
                text.find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .unwrap_or(text.len())
            } else {
                first.len_utf8()
            };
            let (token, rest) = text.split_at(len);
            self.rest = rest;
            return Some(token);
        }
    }
}

/// What follows a string whose opening quote is already gone.
fn skip_string(mut text: &str) -> &str {
    loop {
        match text.find(['"', '\\']) {
            None => return "",
            Some(at) if text.as_bytes()[at] == b'\\' => {
                text = text.get(at + 2..).unwrap_or("");
            }
            Some(at) => return &text[at + 1..],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OperationKind::*;

    #[test]
    fn the_keyword_before_the_name_is_the_kind() {
        let document = r#"
            # query fake { }
            mutation upsertCustomer($input: UpsertCustomerInput!) {
              upsertCustomer(input: $input) { result note: field(arg: "query customer {") }
            }
            query customer($id: ID!) { customer(customerId: $id) { id } }
            subscription watch { x }
            fragment F on Customer { id }
        "#;
        assert_eq!(operation_kind(document, "upsertCustomer"), Some(Mutation));
        assert_eq!(operation_kind(document, "customer"), Some(Query));
        assert_eq!(operation_kind(document, "watch"), Some(Subscription));
        assert_eq!(operation_kind(document, "fake"), None);
        assert_eq!(operation_kind(document, "F"), None);
        assert_eq!(operation_kind(document, "result"), None);
    }

    #[test]
    fn the_shorthand_is_a_query_and_strings_are_skipped() {
        assert_eq!(
            operation_kind("{ customers { id } }", "anything"),
            Some(Query)
        );
        assert_eq!(
            operation_kind(r#"query q { a(s: "\"}") b(t: """ mutation q { """) }"#, "q"),
            Some(Query)
        );
        assert_eq!(operation_kind("query q { a }", "r"), None);
        assert_eq!(operation_kind("", "q"), None);
    }
}

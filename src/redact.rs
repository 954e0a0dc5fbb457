//! Keeping what a server or an input sends from misleading a reader or leaking the key.
//!
//! Text that reaches an error (a message from Plain, the start of a body that could not be
//! read, a request id) is cleaned before it is kept: control characters are escaped, so one
//! error is always one line and no terminal escape sequence gets through; its length is
//! capped; and an answer that echoes the API key has it replaced before anything reads it.

use memchr::memmem;

/// What stands in for the API key wherever an answer echoed it.
pub(crate) const REDACTED: &str = "<redacted>";

/// The most characters of one piece of server text kept in an error.
pub(crate) const MAX_TEXT_CHARS: usize = 500;

/// The most field errors of one `MutationError` that are kept.
pub(crate) const MAX_FIELD_ERRORS: usize = 50;

/// `text` with control characters escaped (`\n`, `\u{1b}`), cut to `max_chars` characters
/// with `…` after the cut.
pub(crate) fn clean(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars + 8));
    for (i, c) in text.chars().enumerate() {
        if i == max_chars {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// The body with every occurrence of `secret` replaced by [`REDACTED`]; the same bytes, not
/// copied, when it has none (as every answer of Plain's).
pub(crate) fn secret_in_body(body: bytes::Bytes, secret: &str) -> bytes::Bytes {
    let secret = secret.as_bytes();
    if secret.is_empty() || memmem::find(&body, secret).is_none() {
        return body;
    }
    let mut out = Vec::with_capacity(body.len());
    let mut rest = &body[..];
    while let Some(at) = memmem::find(rest, secret) {
        out.extend_from_slice(&rest[..at]);
        out.extend_from_slice(REDACTED.as_bytes());
        rest = &rest[at + secret.len()..];
    }
    out.extend_from_slice(rest);
    out.into()
}

/// `text` with every occurrence of `secret` replaced by [`REDACTED`].
pub(crate) fn secret_in_text(text: &str, secret: &str) -> String {
    if secret.is_empty() {
        return text.to_owned();
    }
    text.replace(secret, REDACTED)
}

/// A URL as it may be shown: whatever stands between the scheme and an `@` before the path
/// (a user name and password) is replaced.
pub(crate) fn url_for_display(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return clean(url, MAX_TEXT_CHARS);
    };
    let authority_end = url[scheme_end..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| scheme_end + i);
    let shown = match url[scheme_end..authority_end].rfind('@') {
        Some(at) => format!(
            "{}{REDACTED}{}",
            &url[..scheme_end],
            &url[scheme_end + at..]
        ),
        None => url.to_owned(),
    };
    clean(&shown, MAX_TEXT_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_length_is_capped() {
        assert_eq!(clean("a\nb\u{1b}[31mc\td", 100), "a\\nb\\u{1b}[31mc\\td");
        assert_eq!(clean("abcdef", 3), "abc…");
        assert_eq!(clean("abc", 3), "abc");
        assert_eq!(clean("ééé", 2), "éé…");
    }

    #[test]
    fn every_echo_of_the_key_is_replaced() {
        let body = bytes::Bytes::from_static(b"{\"m\":\"Bearer k_1 and k_1k_1\"}");
        let out = secret_in_body(body, "k_1");
        assert_eq!(
            &out[..],
            b"{\"m\":\"Bearer <redacted> and <redacted><redacted>\"}"
        );
        let clean_body = bytes::Bytes::from_static(b"{}");
        let same = secret_in_body(clean_body.clone(), "k_1");
        assert_eq!(same.as_ptr(), clean_body.as_ptr(), "not copied");
        assert_eq!(secret_in_text("id k_1", "k_1"), "id <redacted>");
    }

    #[test]
    fn user_info_is_not_shown() {
        assert_eq!(
            url_for_display("https://user:pa55@host.example/graphql?x=@y"),
            "https://<redacted>@host.example/graphql?x=@y"
        );
        assert_eq!(
            url_for_display("https://host.example/a@b"),
            "https://host.example/a@b"
        );
        assert_eq!(url_for_display("no url\n"), "no url\\n");
    }
}

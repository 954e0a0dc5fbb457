//! Text the command line shows that may hold input: escaped and capped, so that one message is
//! always one line, and a terminal never receives control characters from a file.

/// How many characters of input text a message quotes at most.
pub const QUOTE_MAX: usize = 300;

/// `text` with control characters escaped (`\n`, `\r`, `\t`, others as `\u001b`), cut with
/// `…` so that it is at most `max` characters before the `…` (escapes count as written).
pub fn clean(text: &str, max: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max) + 8);
    let mut count = 0;
    for c in text.chars() {
        let escaped;
        let piece = match c {
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            c if c.is_control() || is_bidi_control(c) => {
                escaped = format!("\\u{:04x}", u32::from(c));
                escaped.as_str()
            }
            c => {
                if count == max {
                    out.push('…');
                    break;
                }
                out.push(c);
                count += 1;
                continue;
            }
        };
        if count + piece.len() > max {
            out.push('…');
            break;
        }
        out.push_str(piece);
        count += piece.len();
    }
    out
}

/// The characters that reorder text on a terminal (as in "Trojan Source"): shown escaped too.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Input text as a message quotes it: cleaned, capped at [`QUOTE_MAX`] characters, in quotes.
pub fn quote(text: &str) -> String {
    format!("\"{}\"", clean(text, QUOTE_MAX))
}

/// A message that may hold input text (a parser's, say): cleaned and capped.
pub fn message(text: &str) -> String {
    clean(text, QUOTE_MAX)
}

/// Standard base64 (RFC 4648, with padding), for input bytes that are not UTF-8.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> shift) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_one_line_stays_one_line() {
        assert_eq!(
            clean("a\u{1b}[31mred\nnext\r\tend\u{7f}", 100),
            "a\\u001b[31mred\\nnext\\r\\tend\\u007f"
        );
        assert_eq!(clean("naïve café", 100), "naïve café");
        assert_eq!(clean("a\u{202e}b", 100), "a\\u202eb");
    }

    #[test]
    fn long_text_is_cut_with_an_ellipsis() {
        assert_eq!(clean("abcdef", 3), "abc…");
        assert_eq!(clean("abc", 3), "abc");
        // An escape is not cut in half.
        assert_eq!(clean("ab\u{1b}c", 5), "ab…");
        assert_eq!(clean("a\nb", 4), "a\\nb");
        assert_eq!(clean("a\nb", 3), "a\\n…");
        let long = "é".repeat(1000);
        assert_eq!(quote(&long).chars().count(), QUOTE_MAX + 3);
    }

    #[test]
    fn base64_matches_rfc_4648() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), expected);
        }
        assert_eq!(base64(&[0xff, 0xfe, 0x00]), "//4A");
    }
}

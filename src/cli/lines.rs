//! Splitting an input into records in bounded memory: a line of JSON Lines, or a record of CSV
//! (RFC 4180: a newline inside a quoted field does not end the record).
//!
//! A record is stored up to a cap; past it, the rest is skipped without being stored, so memory
//! never follows the input. Every record carries the physical line it starts on, counting every
//! `\n` (inside quotes too), whatever the line endings.

use std::io::{self, BufRead};

/// One record's bytes, without its line ending.
#[derive(Debug, PartialEq, Eq)]
pub struct Chunk {
    /// The physical line the record starts on, from 1.
    pub line: u64,
    /// The record's bytes (its first `cap + 1` when it is too long).
    pub bytes: Vec<u8>,
    /// Whether the record is longer than the cap.
    pub too_long: bool,
    /// CSV: the input ended inside a quoted field.
    pub open_quote: bool,
}

/// How a record ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// At every `\n`.
    Lines,
    /// At a `\n` outside a quoted field.
    Csv,
}

/// Where a CSV scan is within a record (as the `csv` crate reads it: a quote opens a quoted
/// field only at the start of a field; elsewhere it is an ordinary character).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Start,
    Unquoted,
    Quoted,
    QuoteInQuoted,
}

/// Reads records one at a time from a buffered reader.
pub struct Splitter<R> {
    reader: R,
    split: Split,
    cap: usize,
    /// The physical line of the next byte.
    next_line: u64,
    /// The last line of the last record read whole (or of a blank line).
    done_through: u64,
    /// A read failed or the input ended: nothing more will be read.
    finished: bool,
}

impl<R: BufRead> Splitter<R> {
    /// Records of at most `cap` bytes each (longer ones are cut and marked).
    pub fn new(reader: R, split: Split, cap: usize) -> Self {
        Self {
            reader,
            split,
            cap,
            next_line: 1,
            done_through: 0,
            finished: false,
        }
    }

    /// The reader, to see what is buffered.
    pub fn reader(&self) -> &R {
        &self.reader
    }

    /// The last physical line read whole.
    pub fn done_through(&self) -> u64 {
        self.done_through
    }

    /// The next record; `Ok(None)` at the end of the input. After an error, the input is over:
    /// every later call returns `Ok(None)`, so a failing read never loops.
    pub fn next_chunk(&mut self) -> io::Result<Option<Chunk>> {
        if self.finished {
            return Ok(None);
        }
        let result = self.read_chunk();
        match &result {
            Ok(None) | Err(_) => self.finished = true,
            Ok(Some(_)) => {}
        }
        result
    }

    fn read_chunk(&mut self) -> io::Result<Option<Chunk>> {
        let line = self.next_line;
        let mut bytes = Vec::new();
        let mut too_long = false;
        let mut field = Field::Start;
        // One byte over the cap is kept, so a `\r` of a `\r\n` ending fits before it is cut.
        let keep = self.cap.saturating_add(1);
        let mut seen_any = false;
        loop {
            let buffer = match self.reader.fill_buf() {
                Ok(buffer) => buffer,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if buffer.is_empty() {
                // The end of the input: the last record may lack a newline.
                if !seen_any {
                    return Ok(None);
                }
                self.done_through = self.next_line;
                let open_quote = matches!(field, Field::Quoted);
                return Ok(Some(finish(
                    bytes, line, too_long, open_quote, self.cap, false,
                )));
            }
            seen_any = true;
            let available = buffer.len();
            let (end, newlines) = match self.split {
                Split::Lines => match buffer.iter().position(|&b| b == b'\n') {
                    Some(i) => (Some(i), 0),
                    None => (None, 0),
                },
                Split::Csv => scan_csv(buffer, &mut field),
            };
            let taken = end.unwrap_or(available);
            if !too_long {
                let room = keep - bytes.len();
                if taken > room {
                    bytes.extend_from_slice(&buffer[..room]);
                    too_long = true;
                } else {
                    bytes.extend_from_slice(&buffer[..taken]);
                }
            }
            self.next_line += newlines;
            match end {
                Some(i) => {
                    self.reader.consume(i + 1);
                    self.done_through = self.next_line;
                    self.next_line += 1;
                    return Ok(Some(finish(bytes, line, too_long, false, self.cap, true)));
                }
                None => self.reader.consume(available),
            }
        }
    }
}

/// Strips a `\r` of a `\r\n` ending, then tells whether the record is over the cap.
fn finish(
    mut bytes: Vec<u8>,
    line: u64,
    mut too_long: bool,
    open_quote: bool,
    cap: usize,
    newline: bool,
) -> Chunk {
    if newline && !too_long && bytes.last() == Some(&b'\r') {
        bytes.pop();
    }
    if bytes.len() > cap {
        too_long = true;
    }
    Chunk {
        line,
        bytes,
        too_long,
        open_quote,
    }
}

/// Scans CSV bytes from the state `field`: the index of the `\n` that ends the record, if it is
/// in `bytes`, and how many `\n` inside quoted fields come before it.
fn scan_csv(bytes: &[u8], field: &mut Field) -> (Option<usize>, u64) {
    let mut newlines = 0;
    for (i, &b) in bytes.iter().enumerate() {
        *field = match (*field, b) {
            (Field::Quoted, b'"') => Field::QuoteInQuoted,
            (Field::Quoted, b'\n') => {
                newlines += 1;
                Field::Quoted
            }
            (Field::Quoted, _) => Field::Quoted,
            (_, b'\n') => return (Some(i), newlines),
            (Field::Start, b'"') => Field::Quoted,
            (Field::QuoteInQuoted, b'"') => Field::Quoted,
            (_, b',') => Field::Start,
            _ => Field::Unquoted,
        };
    }
    (None, newlines)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every record of `input`, read through a buffer of `capacity` bytes.
    fn split(input: &[u8], mode: Split, cap: usize, capacity: usize) -> Vec<Chunk> {
        let reader = io::BufReader::with_capacity(capacity, input);
        let mut splitter = Splitter::new(reader, mode, cap);
        let mut chunks = Vec::new();
        while let Some(chunk) = splitter.next_chunk().unwrap() {
            chunks.push(chunk);
        }
        chunks
    }

    fn lines_of(chunks: &[Chunk]) -> Vec<(u64, &[u8])> {
        chunks
            .iter()
            .map(|c| (c.line, c.bytes.as_slice()))
            .collect()
    }

    #[test]
    fn lines_end_at_lf_or_crlf_and_the_last_needs_no_newline() {
        for capacity in [1, 2, 3, 64] {
            let chunks = split(b"a\r\nbb\n\nc\r\n\r\nd", Split::Lines, 10, capacity);
            assert_eq!(
                lines_of(&chunks),
                [
                    (1, &b"a"[..]),
                    (2, b"bb"),
                    (3, b""),
                    (4, b"c"),
                    (5, b""),
                    (6, b"d")
                ]
            );
        }
    }

    #[test]
    fn a_record_of_the_cap_fits_and_one_byte_more_does_not() {
        let chunks = split(b"12345\n123456\n12345\r\n", Split::Lines, 5, 2);
        let flags: Vec<(u64, bool)> = chunks.iter().map(|c| (c.line, c.too_long)).collect();
        assert_eq!(flags, [(1, false), (2, true), (3, false)]);
        assert_eq!(chunks[2].bytes, b"12345");
    }

    #[test]
    fn a_long_record_is_stored_only_up_to_the_cap() {
        let mut input = vec![b'x'; 100_000];
        input.extend_from_slice(b"\nnext");
        let chunks = split(&input, Split::Lines, 10, 4096);
        assert_eq!(chunks.len(), 2);
        assert!(chunks[0].too_long);
        assert_eq!(chunks[0].bytes.len(), 11);
        assert!(chunks[0].bytes.capacity() < 1000);
        assert_eq!(
            (chunks[1].line, chunks[1].bytes.as_slice()),
            (2, &b"next"[..])
        );
    }

    #[test]
    fn a_newline_in_quotes_does_not_end_a_csv_record_but_counts_as_a_line() {
        let input = b"h1,h2\r\n\"a\r\nb\",c\r\n\"x\"\"\ny\",\"\"\nlast,\"q\"\r\n";
        for capacity in [1, 5, 64] {
            let chunks = split(input, Split::Csv, 100, capacity);
            assert_eq!(
                lines_of(&chunks),
                [
                    (1, &b"h1,h2"[..]),
                    (2, b"\"a\r\nb\",c"),
                    (4, b"\"x\"\"\ny\",\"\""),
                    (6, b"last,\"q\"")
                ]
            );
        }
    }

    #[test]
    fn a_quote_inside_an_unquoted_field_is_an_ordinary_character() {
        let chunks = split(b"a\"b,c\nd\n", Split::Csv, 100, 64);
        assert_eq!(lines_of(&chunks), [(1, &b"a\"b,c"[..]), (2, b"d")]);
    }

    #[test]
    fn a_quote_never_closed_runs_to_the_end_and_says_so() {
        let chunks = split(b"a,\"b\nc\n", Split::Csv, 100, 64);
        assert_eq!(chunks.len(), 1);
        assert!(chunks[0].open_quote);
    }

    #[test]
    fn a_read_error_ends_the_input_instead_of_repeating() {
        struct Failing(usize);
        impl io::Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0 == 0 {
                    return Err(io::Error::other("disk on fire"));
                }
                let n = self.0.min(buf.len()).min(4);
                buf[..n].copy_from_slice(&b"ok\nok\n"[..n]);
                self.0 -= n;
                Ok(n)
            }
        }
        let reader = io::BufReader::with_capacity(8, Failing(4));
        let mut splitter = Splitter::new(reader, Split::Lines, 100);
        assert_eq!(splitter.next_chunk().unwrap().unwrap().bytes, b"ok");
        assert!(splitter.next_chunk().is_err());
        assert_eq!(splitter.done_through(), 1);
        assert!(splitter.next_chunk().unwrap().is_none());
    }
}

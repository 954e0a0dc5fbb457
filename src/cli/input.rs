//! The input of a bulk run: a file or standard input, opened before any output is.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use super::outputs::Identity;
use super::records::Format;

/// The opened input.
pub(super) struct Input {
    pub(super) reader: Box<dyn Read + Send>,
    pub(super) identity: Identity,
    /// A regular file: after a stop, the rest of it is read to list its records.
    pub(super) regular: bool,
    pub(super) name: String,
}

/// Opens the input: a file, or standard input for `-`. A directory is refused here, before
/// anything is read or sent.
pub(super) fn open_input(path: &Path) -> Result<Input, String> {
    if path.as_os_str() == "-" {
        return open_stdin();
    }
    let name = path.display().to_string();
    let file = File::open(path).map_err(|e| format!("cannot read {name}: {e}"))?;
    let metadata = file
        .metadata()
        .map_err(|e| format!("cannot read {name}: {e}"))?;
    if metadata.is_dir() {
        return Err(format!(
            "{name} is a directory: give a JSON Lines or CSV file"
        ));
    }
    Ok(Input {
        identity: Identity::of_open(&metadata, Some(path)),
        regular: metadata.is_file(),
        reader: Box::new(file),
        name,
    })
}

#[cfg(unix)]
fn open_stdin() -> Result<Input, String> {
    use std::os::fd::AsFd;
    let name = "standard input".to_owned();
    // Its own handle on descriptor 0: unbuffered (ours buffers), and its identity checked
    // against the outputs (`< x.jsonl --rejects x.jsonl` must not destroy x.jsonl).
    let file = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .map(File::from)
        .map_err(|e| format!("cannot read {name}: {e}"))?;
    let metadata = file
        .metadata()
        .map_err(|e| format!("cannot read {name}: {e}"))?;
    if metadata.is_dir() {
        return Err(format!(
            "{name} is a directory: give a JSON Lines or CSV file"
        ));
    }
    Ok(Input {
        identity: Identity::of_open(&metadata, None),
        regular: metadata.is_file(),
        reader: Box::new(file),
        name,
    })
}

#[cfg(not(unix))]
fn open_stdin() -> Result<Input, String> {
    Ok(Input {
        reader: Box::new(std::io::stdin()),
        identity: Identity::default(),
        regular: false,
        name: "standard input".to_owned(),
    })
}

/// Counts the non-blank lines of a file (less the header for CSV) for the progress bar's
/// total, in bounded memory; `None` for standard input.
pub(super) fn count(path: &Path, format: Format) -> Option<u64> {
    if path.as_os_str() == "-" {
        return None;
    }
    let mut reader = BufReader::with_capacity(256 * 1024, File::open(path).ok()?);
    let (mut lines, mut blank) = (0u64, true);
    loop {
        let buffer = reader.fill_buf().ok()?;
        if buffer.is_empty() {
            break;
        }
        for &b in buffer {
            if b == b'\n' {
                lines += u64::from(!blank);
                blank = true;
            } else if !b.is_ascii_whitespace() {
                blank = false;
            }
        }
        let n = buffer.len();
        reader.consume(n);
    }
    lines += u64::from(!blank);
    Some(match format {
        Format::Jsonl => lines,
        Format::Csv => lines.saturating_sub(1),
    })
}

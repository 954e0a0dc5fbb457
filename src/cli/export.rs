//! `plain export-customers`: every customer of the workspace as JSON Lines, resumable.
//!
//! Each line ends with the cursor of its customer. Run again with the same `--output`, the
//! export drops a torn last line (a run killed while writing), reads the cursor of the last
//! whole line and goes on right after it: no customer twice, none missed.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use plain_client::{Customer, PlainClient, RetryPolicy};
use serde::Serialize;

use super::{client_builder, runtime, text, Failure};

/// What `plain export-customers` was asked to do.
#[derive(Debug, clap::Args)]
pub struct ExportOptions {
    /// Write the customers here, one JSON line each; run again with the same file to go on
    /// after its last whole line [default: standard output, from the first customer].
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The GraphQL endpoint [default: Plain's production API].
    #[arg(long, env = "PLAIN_API_URL", value_name = "URL")]
    pub api_url: Option<String>,
    /// How many times a page is asked for at most before the export stops.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub max_attempts: u32,
    /// Print no progress, and no summary.
    #[arg(long, short)]
    pub quiet: bool,
}

/// The longest line an export writes: a customer and its cursor are far shorter. A file whose
/// last line is longer is not an export.
const MAX_LINE_BYTES: u64 = 1 << 20;

/// How every line starts, so that a file torn before its first line ended is still known.
const LINE_START: &[u8] = b"{\"customerId\":";

/// How often progress is printed.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// One line: the customer in Plain's names (its id as `customerId`, as the results of
/// `sync-customers` name it; timestamps as ISO 8601 text), then its cursor.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Line<'a> {
    customer_id: &'a str,
    external_id: Option<&'a str>,
    full_name: &'a str,
    short_name: Option<&'a str>,
    email: Email<'a>,
    created_at: Option<&'a str>,
    updated_at: Option<&'a str>,
    cursor: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Email<'a> {
    email: &'a str,
    is_verified: bool,
    verified_at: Option<&'a str>,
}

impl<'a> Line<'a> {
    fn new(customer: &'a Customer, cursor: &'a str) -> Self {
        let at = |t: &'a Option<plain_client::Timestamp>| {
            t.as_ref().map(plain_client::Timestamp::as_str)
        };
        Self {
            customer_id: &customer.id,
            external_id: customer.external_id.as_deref(),
            full_name: &customer.full_name,
            short_name: customer.short_name.as_deref(),
            email: Email {
                email: &customer.email.email,
                is_verified: customer.email.is_verified,
                verified_at: at(&customer.email.verified_at),
            },
            created_at: at(&customer.created_at),
            updated_at: at(&customer.updated_at),
            cursor,
        }
    }
}

/// Where the lines go.
struct Sink {
    name: String,
    out: Box<dyn Write>,
}

/// Where an export to a file goes on from.
#[derive(Debug, Default, PartialEq, Eq)]
struct Resume {
    /// The cursor of the last whole line, `None` for an empty file.
    cursor: Option<String>,
    /// Whole lines already in the file.
    lines: u64,
    /// Bytes of a torn last line dropped.
    torn: u64,
}

/// Runs `plain export-customers`.
pub fn run(options: ExportOptions) -> Result<(), Failure> {
    let policy = RetryPolicy::default().max_attempts(options.max_attempts);
    let client = client_builder(options.api_url.clone(), policy).build()?;
    let (mut sink, resume) = match &options.output {
        Some(path) => open(path)?,
        None => (
            Sink {
                name: "standard output".to_owned(),
                out: Box::new(std::io::stdout().lock()),
            },
            Resume::default(),
        ),
    };
    if !options.quiet && resume.lines > 0 {
        eprintln!(
            "plain: {} holds {} customers: going on after the last one{}",
            sink.name,
            resume.lines,
            match resume.torn {
                0 => String::new(),
                bytes => format!(" (a torn last line of {bytes} bytes was dropped)"),
            }
        );
    }
    let started = Instant::now();
    let exported = runtime()?.block_on(export(&client, &mut sink, resume.cursor, options.quiet))?;
    if !options.quiet {
        let elapsed = started.elapsed().as_secs_f64();
        eprintln!(
            "exported {} customers in {} pages ({} requests) in {elapsed:.1} s to {}",
            exported.customers,
            exported.pages,
            client.stats().attempts,
            sink.name
        );
    }
    Ok(())
}

/// What an export did.
struct Exported {
    customers: u64,
    pages: u64,
}

/// Reads every customer after `after` and writes a line for each, a page at a time (one
/// write each), so that a kill loses at most the page being written.
async fn export(
    client: &PlainClient,
    sink: &mut Sink,
    after: Option<String>,
    quiet: bool,
) -> Result<Exported, Failure> {
    let mut query = client.customers();
    if let Some(cursor) = after {
        query = query.after(cursor);
    }
    let mut stream = query.stream();
    let mut page = Vec::with_capacity(64 * 1024);
    let mut pages = 0;
    let mut customers = 0;
    let mut shown = Instant::now();
    while let Some(next) = stream.next().await {
        if stream.pages() != pages {
            pages = stream.pages();
            sink.write(&mut page)?;
            if !quiet && shown.elapsed() >= PROGRESS_EVERY {
                shown = Instant::now();
                let total = stream
                    .total_count()
                    .map_or(String::new(), |t| format!(" of {t}"));
                eprintln!("plain: {customers} customers exported{total}");
            }
        }
        let customer = match next {
            Ok(customer) => customer,
            Err(error) => {
                // What was read is kept: a run again goes on after it.
                sink.write(&mut page)?;
                return Err(error.into());
            }
        };
        let cursor = stream.cursor().unwrap_or_default();
        serde_json::to_writer(&mut page, &Line::new(&customer, cursor))
            .map_err(|e| Failure::Output(format!("cannot encode a customer: {e}")))?;
        page.push(b'\n');
        customers += 1;
    }
    sink.write(&mut page)?;
    Ok(Exported {
        customers,
        pages: stream.pages(),
    })
}

impl Sink {
    /// Writes the lines held, and empties them.
    fn write(&mut self, lines: &mut Vec<u8>) -> Result<(), Failure> {
        if lines.is_empty() {
            return Ok(());
        }
        self.out
            .write_all(lines)
            .and_then(|()| self.out.flush())
            .map_err(|e| Failure::Output(format!("cannot write to {}: {e}", self.name)))?;
        lines.clear();
        Ok(())
    }
}

/// Opens the output: a regular file is locked, checked to be an export, cut after its last
/// whole line and written on from there; anything else (a device, a pipe) is written as is.
fn open(path: &Path) -> Result<(Sink, Resume), Failure> {
    let name = path.display().to_string();
    let invalid = |why: String| Failure::Io(format!("--output {name}: {why}"));
    if path.is_dir() {
        return Err(invalid("it is a directory; name a file".to_owned()));
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| invalid(format!("cannot open it: {e}")))?;
    let metadata = file
        .metadata()
        .map_err(|e| invalid(format!("cannot read it: {e}")))?;
    let mut resume = Resume::default();
    if metadata.is_file() {
        file.try_lock()
            .map_err(|_| invalid("another export is writing it; wait for it to end".to_owned()))?;
        let (kept, found) = resume_point(&mut file, metadata.len()).map_err(invalid)?;
        resume = found;
        file.set_len(kept)
            .and_then(|()| file.seek(SeekFrom::Start(kept)).map(drop))
            .map_err(|e| invalid(format!("cannot cut its torn last line: {e}")))?;
    }
    let sink = Sink {
        name,
        out: Box::new(file),
    };
    Ok((sink, resume))
}

/// Where an export to `file` (of `len` bytes) goes on: the length to keep (its whole lines),
/// and the cursor of the last one. A file that an export did not write is refused as it is.
fn resume_point(file: &mut File, len: u64) -> Result<(u64, Resume), String> {
    let io = |e: std::io::Error| format!("cannot read it: {e}");
    let not_an_export = |why: &str| {
        format!(
            "it is not a file plain export-customers wrote ({why}); name another file, or \
             remove it to export from the first customer"
        )
    };
    let Some(last_end) = rfind_newline(file, len, MAX_LINE_BYTES).map_err(io)? else {
        // No whole line: an empty file, or one torn before its first line ended.
        if len > MAX_LINE_BYTES || !starts_like_a_line(file, len).map_err(io)? {
            return Err(not_an_export("it has no line of an export"));
        }
        let torn = len;
        return Ok((
            0,
            Resume {
                torn,
                ..Resume::default()
            },
        ));
    };
    let start = match rfind_newline(file, last_end, MAX_LINE_BYTES).map_err(io)? {
        Some(previous) => previous + 1,
        None if last_end <= MAX_LINE_BYTES => 0,
        None => return Err(not_an_export("its last line is too long")),
    };
    let mut line = vec![0; usize::try_from(last_end - start).unwrap_or_default()];
    file.seek(SeekFrom::Start(start)).map_err(io)?;
    file.read_exact(&mut line).map_err(io)?;
    let cursor = serde_json::from_slice::<serde_json::Value>(&line)
        .ok()
        .filter(|line| line["customerId"].is_string())
        .and_then(|line| line["cursor"].as_str().map(str::to_owned))
        .ok_or_else(|| {
            let shown = text::quote(&String::from_utf8_lossy(&line));
            not_an_export(&format!(
                "its last line has no customerId and cursor: {shown}"
            ))
        })?;
    let lines = count_lines(file, last_end + 1).map_err(io)?;
    let kept = last_end + 1;
    let resume = Resume {
        cursor: Some(cursor),
        lines,
        torn: len - kept,
    };
    Ok((kept, resume))
}

/// Whether the first bytes of a file with no newline are how an export's line starts.
fn starts_like_a_line(file: &mut File, len: u64) -> std::io::Result<bool> {
    let mut head = vec![0; usize::try_from(len.min(LINE_START.len() as u64)).unwrap_or_default()];
    file.seek(SeekFrom::Start(0))?;
    file.read_exact(&mut head)?;
    Ok(LINE_START.starts_with(&head))
}

/// The position of the last `\n` before `end`, looking back at most `limit` bytes.
fn rfind_newline(file: &mut File, end: u64, limit: u64) -> std::io::Result<Option<u64>> {
    let floor = end.saturating_sub(limit);
    let mut chunk = vec![0; 64 * 1024];
    let mut to = end;
    while to > floor {
        let from = to.saturating_sub(chunk.len() as u64).max(floor);
        let piece = &mut chunk[..usize::try_from(to - from).unwrap_or_default()];
        file.seek(SeekFrom::Start(from))?;
        file.read_exact(piece)?;
        if let Some(at) = memchr::memrchr(b'\n', piece) {
            return Ok(Some(from + at as u64));
        }
        to = from;
    }
    Ok(None)
}

/// How many lines the first `len` bytes of the file hold.
fn count_lines(file: &mut File, len: u64) -> std::io::Result<u64> {
    file.seek(SeekFrom::Start(0))?;
    let mut chunk = vec![0; 64 * 1024];
    let mut reader = file.take(len);
    let mut lines = 0;
    loop {
        let read = reader.read(&mut chunk)?;
        if read == 0 {
            return Ok(lines);
        }
        lines += memchr::memchr_iter(b'\n', &chunk[..read]).count() as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resume_of(content: &[u8]) -> (Result<(u64, Resume), String>, u64) {
        static MADE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let made = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("plain-export-unit-{}-{made}", std::process::id()));
        std::fs::write(&path, content).unwrap();
        let mut file = File::open(&path).unwrap();
        let found = resume_point(&mut file, content.len() as u64);
        let _ = std::fs::remove_file(&path);
        (found, content.len() as u64)
    }

    const LINE: &str = "{\"customerId\":\"c_1\",\"fullName\":\"A\",\"cursor\":\"abc\"}\n";

    #[test]
    fn an_export_goes_on_after_its_last_whole_line() {
        let two = format!("{LINE}{}", LINE.replace("abc", "def"));
        let (found, len) = resume_of(two.as_bytes());
        let (kept, resume) = found.unwrap();
        assert_eq!(kept, len);
        assert_eq!(resume.cursor.as_deref(), Some("def"));
        assert_eq!((resume.lines, resume.torn), (2, 0));

        let torn = format!("{LINE}{{\"customerId\":\"c_2\",\"fu");
        let (found, _) = resume_of(torn.as_bytes());
        let (kept, resume) = found.unwrap();
        assert_eq!(kept, LINE.len() as u64);
        assert_eq!(resume.cursor.as_deref(), Some("abc"));
        assert_eq!((resume.lines, resume.torn), (1, 23));
    }

    #[test]
    fn an_empty_file_or_one_torn_in_its_first_line_starts_over() {
        assert_eq!(resume_of(b"").0.unwrap(), (0, Resume::default()));
        let (found, _) = resume_of(b"{\"custo");
        assert_eq!(
            found.unwrap(),
            (
                0,
                Resume {
                    torn: 7,
                    ..Resume::default()
                }
            )
        );
    }

    #[test]
    fn a_file_an_export_did_not_write_is_refused_untouched() {
        for other in [
            &b"my notes, without a newline"[..],
            b"my notes\nmore notes\n",
            b"{\"id\":\"c_1\"}\n",
            b"{\"customerId\":\"c_1\"}\n",
        ] {
            let (found, _) = resume_of(other);
            let message = found.unwrap_err();
            assert!(
                message.contains("not a file plain export-customers wrote"),
                "{message}"
            );
        }
    }
}

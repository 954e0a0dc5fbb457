//! The files `plain sync-customers` writes (results, rejects): checked against the input before
//! anything is opened for writing, then written a whole line at a time.

use std::fs::{File, Metadata, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// What makes two paths the same file: device and inode (of an existing file), and the
/// canonical path (of one that may not exist yet).
#[derive(Debug, Default)]
pub struct Identity {
    id: Option<(u64, u64)>,
    canonical: Option<PathBuf>,
    /// A character device (`/dev/null`, `/dev/full`): writing to it destroys nothing, so it
    /// may be named more than once.
    device: bool,
}

impl Identity {
    /// The identity of an open file (the input, which may be standard input).
    pub fn of_open(metadata: &Metadata, path: Option<&Path>) -> Self {
        Self {
            id: file_id(metadata),
            canonical: path.and_then(|p| std::fs::canonicalize(p).ok()),
            device: is_char_device(metadata),
        }
    }

    fn same_as(&self, other: &Identity) -> bool {
        if self.device || other.device {
            return false;
        }
        let same_id = matches!((self.id, other.id), (Some(a), Some(b)) if a == b);
        let same_path = matches!((&self.canonical, &other.canonical), (Some(a), Some(b)) if a == b);
        same_id || same_path
    }
}

#[cfg(unix)]
fn file_id(metadata: &Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((metadata.dev(), metadata.ino()))
}

#[cfg(not(unix))]
fn file_id(_: &Metadata) -> Option<(u64, u64)> {
    None
}

#[cfg(unix)]
fn is_char_device(metadata: &Metadata) -> bool {
    use std::os::unix::fs::FileTypeExt;
    metadata.file_type().is_char_device()
}

#[cfg(not(unix))]
fn is_char_device(_: &Metadata) -> bool {
    false
}

/// The canonical path a file would have once created: symlinks followed (a dangling one to
/// where it points), the directory resolved.
fn canonical_target(path: &Path) -> Result<PathBuf, String> {
    let mut path = path.to_path_buf();
    // A dangling symlink is created where it points; follow a bounded chain of them.
    for _ in 0..40 {
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = std::fs::read_link(&path)
                    .map_err(|e| format!("cannot read the link {}: {e}", path.display()))?;
                path = match path.parent() {
                    Some(parent) if target.is_relative() => parent.join(target),
                    _ => target,
                };
            }
            _ => break,
        }
    }
    if let Ok(canonical) = std::fs::canonicalize(&path) {
        return Ok(canonical);
    }
    let name = path
        .file_name()
        .ok_or_else(|| format!("{} is not a file name", path.display()))?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let parent = std::fs::canonicalize(parent)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    Ok(parent.join(name))
}

/// The identity of an output path, checked to be something a file can be written to.
fn output_identity(flag: &str, path: &Path) -> Result<Identity, String> {
    let metadata = std::fs::metadata(path).ok();
    if let Some(metadata) = &metadata {
        if metadata.is_dir() {
            return Err(format!("{flag} {} is a directory", path.display()));
        }
    }
    Ok(Identity {
        id: metadata.as_ref().and_then(file_id),
        canonical: Some(canonical_target(path)?),
        device: metadata.as_ref().is_some_and(is_char_device),
    })
}

/// Where a file that is written whole and then renamed into place (the `--missing` list)
/// goes: through a symbolic link to the file it points to, which must be a regular file if it
/// exists, and never the state file or one of SQLite's files beside it.
pub fn replaceable(flag: &str, path: &Path, state: Option<&Path>) -> Result<PathBuf, String> {
    let target = canonical_target(path)?;
    if let Ok(metadata) = std::fs::metadata(&target) {
        if !metadata.is_file() {
            return Err(format!(
                "{flag} {} is not a regular file (a directory, device or pipe): it is replaced \
                 whole when written; name a regular file",
                path.display()
            ));
        }
    }
    let Some(state) = state else {
        return Ok(target);
    };
    let state = canonical_target(state)?;
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut own = state.clone().into_os_string();
        own.push(suffix);
        let same_file = match (std::fs::metadata(&own), std::fs::metadata(&target)) {
            (Ok(a), Ok(b)) => file_id(&a).is_some() && file_id(&a) == file_id(&b),
            _ => false,
        };
        if Path::new(&own) == target || same_file {
            return Err(format!(
                "{flag} {} is the state file's own {}: name another file",
                path.display(),
                if suffix.is_empty() {
                    "file"
                } else {
                    &suffix[1..]
                }
            ));
        }
    }
    Ok(target)
}

/// Refuses an output that is the input, or the other output, by any path: same file (device
/// and inode, so hard links and symlinks too) or same canonical path. Opens nothing.
pub fn check(input: &Identity, outputs: &[(&str, Option<&Path>)]) -> Result<(), String> {
    let mut seen: Vec<(&str, &Path, Identity)> = Vec::new();
    for (flag, path) in outputs {
        let Some(path) = path else { continue };
        let identity = output_identity(flag, path)?;
        if identity.same_as(input) {
            return Err(format!(
                "{flag} {} is the input file: writing it would destroy the input; name another file",
                path.display()
            ));
        }
        if let Some((other, other_path, _)) = seen.iter().find(|(_, _, id)| id.same_as(&identity)) {
            return Err(format!(
                "{flag} {} and {other} {} are the same file: name two files",
                path.display(),
                other_path.display()
            ));
        }
        seen.push((flag, path, identity));
    }
    Ok(())
}

/// A JSON Lines file the run writes, a whole line per `write(2)`: after a crash every line in
/// it is whole. After a failed write it is written no more, and the lines it misses are counted.
pub struct Output {
    name: String,
    file: Option<File>,
    line: Vec<u8>,
    /// Why writing failed, once it did.
    pub failed: Option<String>,
    /// Lines that should have been written and were not.
    pub unrecorded: u64,
}

impl Output {
    /// No file: writing does nothing.
    pub fn none() -> Self {
        Self {
            name: String::new(),
            file: None,
            line: Vec::new(),
            failed: None,
            unrecorded: 0,
        }
    }

    /// Opens `path` for writing after [`check`]: opened without truncating, checked again by
    /// its handle against the input and `others`, and only then emptied (a regular file).
    pub fn create(path: &Path, input: &Identity, others: &[&Output]) -> Result<Self, String> {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        let metadata = file
            .metadata()
            .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        let identity = Identity::of_open(&metadata, None);
        let clash = identity.same_as(input)
            || others
                .iter()
                .filter_map(|o| o.file.as_ref()?.metadata().ok())
                .any(|m| identity.same_as(&Identity::of_open(&m, None)));
        if clash {
            return Err(format!(
                "{} changed into the input or the other output while starting: nothing written",
                path.display()
            ));
        }
        if metadata.is_file() {
            file.set_len(0)
                .map_err(|e| format!("cannot empty {}: {e}", path.display()))?;
        }
        Ok(Self {
            name: path.display().to_string(),
            file: Some(file),
            line: Vec::with_capacity(256),
            failed: None,
            unrecorded: 0,
        })
    }

    /// Writes `value` as one line. `Err` with the reason the first time a write fails; later
    /// lines are only counted.
    pub fn write<T: serde::Serialize>(&mut self, value: &T) -> Result<(), String> {
        let Some(file) = &mut self.file else {
            return Ok(());
        };
        if self.failed.is_some() {
            self.unrecorded += 1;
            return Ok(());
        }
        self.line.clear();
        let written = serde_json::to_writer(&mut self.line, value)
            .map_err(|e| e.to_string())
            .and_then(|()| {
                self.line.push(b'\n');
                write_whole(file, &self.line)
            });
        written.map_err(|e| {
            self.unrecorded += 1;
            let message = format!("cannot write {}: {e}", self.name);
            self.failed = Some(message.clone());
            message
        })
    }
}

/// Writes one line, or none of it: a full disk (or a file size limit) may take part of a line,
/// and then the file is cut back to where the line began, so that every line in it is whole.
fn write_whole(file: &mut File, line: &[u8]) -> Result<(), String> {
    use std::io::{Seek, SeekFrom};
    let start = file.stream_position().ok();
    let Err(e) = file.write_all(line) else {
        return Ok(());
    };
    if let Some(start) = start {
        if file.metadata().is_ok_and(|m| m.is_file()) {
            let _ = file.set_len(start);
            let _ = file.seek(SeekFrom::Start(start));
        }
    }
    Err(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Dir(PathBuf);

    impl Dir {
        fn new(name: &str) -> Self {
            let path =
                std::env::temp_dir().join(format!("plain-outputs-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).unwrap();
            Self(path)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn input(path: &Path) -> Identity {
        Identity::of_open(&std::fs::metadata(path).unwrap(), Some(path))
    }

    #[cfg(unix)]
    #[test]
    fn the_input_by_any_path_is_refused() {
        let dir = Dir::new("input");
        let file = dir.0.join("in.jsonl");
        std::fs::write(&file, "x\n").unwrap();
        std::fs::hard_link(&file, dir.0.join("hard.jsonl")).unwrap();
        std::os::unix::fs::symlink(&file, dir.0.join("soft.jsonl")).unwrap();
        std::fs::create_dir(dir.0.join("sub")).unwrap();
        let id = input(&file);
        for name in ["in.jsonl", "hard.jsonl", "soft.jsonl", "sub/../in.jsonl"] {
            let path = dir.0.join(name);
            let error = check(&id, &[("--rejects", Some(&path))]).unwrap_err();
            assert!(error.contains("is the input file"), "{name}: {error}");
        }
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "x\n");
    }

    #[cfg(unix)]
    #[test]
    fn two_outputs_that_are_one_file_are_refused_even_before_they_exist() {
        let dir = Dir::new("outputs");
        let file = dir.0.join("in.jsonl");
        std::fs::write(&file, "x\n").unwrap();
        let a = dir.0.join("out.jsonl");
        let b = dir.0.join("sub/../out.jsonl");
        std::fs::create_dir(dir.0.join("sub")).unwrap();
        let error = check(
            &input(&file),
            &[("--rejects", Some(&a)), ("--results", Some(&b))],
        )
        .unwrap_err();
        assert!(error.contains("are the same file"), "{error}");
        // A dangling symlink to where the other output will be.
        let link = dir.0.join("link.jsonl");
        std::os::unix::fs::symlink(&a, &link).unwrap();
        let error = check(
            &input(&file),
            &[("--rejects", Some(&a)), ("--results", Some(&link))],
        )
        .unwrap_err();
        assert!(error.contains("are the same file"), "{error}");
        let c = dir.0.join("other.jsonl");
        check(
            &input(&file),
            &[("--rejects", Some(&a)), ("--results", Some(&c))],
        )
        .unwrap();
        assert!(!a.exists());
    }

    #[cfg(unix)]
    #[test]
    fn character_devices_may_be_named_twice() {
        let dir = Dir::new("devices");
        let file = dir.0.join("in.jsonl");
        std::fs::write(&file, "x\n").unwrap();
        let null = Path::new("/dev/null");
        check(
            &input(&file),
            &[("--rejects", Some(null)), ("--results", Some(null))],
        )
        .unwrap();
        let stdin_like = input(null);
        check(&stdin_like, &[("--rejects", Some(null))]).unwrap();
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_failed_write_is_reported_once_and_later_lines_are_counted() {
        let mut output = Output::create(Path::new("/dev/full"), &Identity::default(), &[]).unwrap();
        let error = output.write(&serde_json::json!({"line": 1})).unwrap_err();
        assert!(error.contains("/dev/full"), "{error}");
        output.write(&serde_json::json!({"line": 2})).unwrap();
        assert_eq!(output.unrecorded, 2);
    }
}

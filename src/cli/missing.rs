//! The `--missing` list: the customers the state holds that the input no longer names.

use std::fs::File;
use std::path::Path;

use plain_client::state::StateStore;
use serde::Serialize;

use super::summary::Summary;

/// A line of the --missing file: a customer the state holds and the input no longer has.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MissingLine<'a> {
    identifier: &'a plain_client::CustomerIdentifier,
    /// None for a customer Plain confirmed only in a batch: the line names it by its
    /// `externalId` alone, and `delete-customers` asks Plain for its id.
    #[serde(skip_serializing_if = "Option::is_none")]
    customer_id: Option<&'a str>,
    last_result: &'a str,
    last_synced_at: String,
    /// The list this line belongs to: `delete-customers --state` deletes the customer only
    /// while the state still says it is missing since this list or an earlier one.
    missing_list: &'a plain_client::state::MissingList,
}

/// Writes the customers the state holds that the input did not name, when the input was read
/// whole and every record in it was named: otherwise a customer would be listed for deletion
/// only because its record was not read. The file is replaced at once when complete.
pub(super) fn write_missing(
    state: &StateStore,
    path: &Path,
    summary: &Summary,
) -> Result<u64, String> {
    use std::io::Write;
    check_read_whole(summary)?;
    let name = path.display();
    let partial = partial_path(path);
    let write = || -> Result<u64, String> {
        let file = File::create(&partial)
            .map_err(|e| format!("cannot create {}: {e}", partial.display()))?;
        let mut out = std::io::BufWriter::new(file);
        let mut listed = 0u64;
        type Failed = Box<dyn std::error::Error>;
        state
            .for_each_missing(|list, entry| -> Result<(), Failed> {
                let line = MissingLine {
                    identifier: &entry.identifier,
                    customer_id: entry.customer_id.as_deref(),
                    last_result: &entry.result,
                    last_synced_at: humantime::format_rfc3339_seconds(entry.synced_at).to_string(),
                    missing_list: list,
                };
                serde_json::to_writer(&mut out, &line)?;
                out.write_all(b"\n")?;
                listed += 1;
                Ok(())
            })
            .map_err(|e| e.to_string())?;
        let file = out.into_inner().map_err(|e| e.to_string())?;
        file.sync_all().map_err(|e| e.to_string())?;
        std::fs::rename(&partial, path).map_err(|e| e.to_string())?;
        Ok(listed)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&partial);
        format!("cannot write {name}: {e}")
    })
}

/// Why a --missing list must not be written, if it must not: the input was not read to its
/// end, held no record, or had records that could not be read (whose customers are unknown).
pub(super) fn check_read_whole(summary: &Summary) -> Result<(), String> {
    let unread = summary.stop.is_some()
        || summary.interrupted
        || summary.read_failed.is_some()
        || summary.unread_after.is_some();
    if unread {
        return Err("not written: the input was not read to its end".to_owned());
    }
    if summary.done() + summary.not_attempted == 0 {
        return Err(
            "not written: the input holds no record, and every customer would be listed".to_owned(),
        );
    }
    if summary.malformed > 0 {
        return Err(format!(
            "not written: {} records could not be read, and the customers they name are unknown",
            summary.malformed
        ));
    }
    Ok(())
}

/// Where a list is written before it is moved into place, beside it.
pub(super) fn partial_path(path: &Path) -> std::path::PathBuf {
    let mut file_name = path.file_name().unwrap_or_default().to_os_string();
    file_name.push(format!(".partial-{}", std::process::id()));
    path.with_file_name(file_name)
}

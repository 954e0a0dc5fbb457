//! Faults scripted for `importCustomers` requests: skipped customers, counts that do not add
//! up, a `MutationError`, or another answer in place of Plain's, before or after the batch is
//! applied.

use std::collections::VecDeque;
use std::fmt;
use std::str::FromStr;

use super::scripted::ScriptedAnswer;
use super::store::records::ImportCounts;

/// What the local server does with one `importCustomers` request, scripted for the nth such
/// request with [`LocalServerBuilder::import_fault`] or [`LocalServer::script_import`].
///
/// A request counts when it reaches the GraphQL executor with an `importCustomers` field: after
/// the API key, the scripted answers ([`LocalServer::script`]), random failures and the rate
/// limit have let it through. A retry is a request of its own.
///
/// ```
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use plain_client::testing::{ImportFault, LocalServer};
/// use plain_client::ImportCustomer;
///
/// let server = LocalServer::builder()
///     .import_fault(2, ImportFault::skip_last(1)) // the second importCustomers request
///     .start()
///     .await?;
/// let client = server.client()?;
/// let batch = || vec![
///     ImportCustomer::new("crm-1", "Ada").email("ada@example.com"),
///     ImportCustomer::new("crm-2", "Grace").email("grace@example.com"),
/// ];
/// assert_eq!(client.import_customers(batch()).await?.added, 2);
/// let second = client.import_customers(batch()).await?;
/// assert_eq!((second.updated, second.skipped), (1, 1));
/// # Ok(())
/// # }
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(run()).unwrap();
/// ```
///
/// [`LocalServerBuilder::import_fault`]: crate::testing::LocalServerBuilder::import_fault
/// [`LocalServer::script_import`]: crate::testing::LocalServer::script_import
/// [`LocalServer::script`]: crate::testing::LocalServer::script
#[derive(Debug, Clone)]
pub struct ImportFault {
    pub(super) kind: Fault,
}

/// What an [`ImportFault`] does.
#[derive(Debug, Clone)]
pub(super) enum Fault {
    /// Served as usual.
    Normal,
    /// The batch applied but for its last customers, which are counted as skipped.
    SkipLast(usize),
    /// The batch applied, and these counts answered.
    Counts(ImportCounts),
    /// A `MutationError` of this type, code and message; nothing applied.
    Rejected {
        kind: &'static str,
        code: &'static str,
        message: &'static str,
    },
    /// This answer instead; nothing applied.
    Instead(ScriptedAnswer),
    /// The batch applied, then this answer instead of the result.
    AfterApplying(ScriptedAnswer),
}

impl ImportFault {
    /// Serves the request as usual: a placeholder, or to undo a fault scripted for it.
    pub fn normal() -> Self {
        Self {
            kind: Fault::Normal,
        }
    }

    /// Applies the batch but for its last `count` customers, which are left as they are and
    /// counted as `skipped` (with any the import skips of its own accord).
    pub fn skip_last(count: usize) -> Self {
        Self {
            kind: Fault::SkipLast(count),
        }
    }

    /// Applies the batch and answers these counts instead of the true ones, such as counts
    /// whose sum differs from the number of customers sent.
    pub fn counts(added: u32, updated: u32, skipped: u32) -> Self {
        Self {
            kind: Fault::Counts(ImportCounts {
                added,
                updated,
                skipped,
            }),
        }
    }

    /// Applies nothing and answers a `MutationError` of type `INTERNAL` (code `internal`),
    /// which the client retries.
    pub fn internal_error() -> Self {
        Self {
            kind: Fault::Rejected {
                kind: "INTERNAL",
                code: "internal",
                message: "An internal error occurred.",
            },
        }
    }

    /// Applies nothing and answers a `MutationError` of type `VALIDATION` (code
    /// `input_validation`), which the client does not retry.
    pub fn validation_error() -> Self {
        Self {
            kind: Fault::Rejected {
                kind: "VALIDATION",
                code: "input_validation",
                message: "There was a validation error.",
            },
        }
    }

    /// Applies nothing and answers HTTP 500 with Plain's `INTERNAL_SERVER_ERROR`.
    pub fn server_error() -> Self {
        Self::instead(ScriptedAnswer::graphql_error(
            500,
            "INTERNAL_SERVER_ERROR",
            "Internal server error",
        ))
    }

    /// Applies nothing and sends `answer` instead (a gateway's 504, a dropped connection...).
    pub fn instead(answer: ScriptedAnswer) -> Self {
        Self {
            kind: Fault::Instead(answer),
        }
    }

    /// Applies the batch, then sends `answer` instead of the result, as when Plain did the
    /// work and its answer was lost on the way (a dropped connection, a gateway's 504).
    pub fn after_applying(answer: ScriptedAnswer) -> Self {
        Self {
            kind: Fault::AfterApplying(answer),
        }
    }

    fn is_fault(&self) -> bool {
        !matches!(self.kind, Fault::Normal)
    }
}

/// A fault that [`ImportFault`]'s `FromStr` cannot read: the text, and the forms it takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportFaultError(String);

impl fmt::Display for ImportFaultError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not an import fault: use normal, skip-last=N, counts=ADDED,UPDATED,SKIPPED, \
             internal-error, validation-error, status=500 (or 502, 503, 504), drop, \
             or applied-drop",
            self.0
        )
    }
}

impl std::error::Error for ImportFaultError {}

impl FromStr for ImportFault {
    type Err = ImportFaultError;

    /// Reads a fault as `plain serve --import-fault` takes it: `normal`, `skip-last=N`,
    /// `counts=ADDED,UPDATED,SKIPPED`, `internal-error`, `validation-error`, `status=500`
    /// ([`ImportFault::server_error`]; 502, 503 and 504 are a gateway's HTML page), `drop` (the
    /// connection closed, nothing applied) or `applied-drop` (applied, then the connection
    /// closed).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let refused = || ImportFaultError(text.to_owned());
        let (name, value) = match text.trim().split_once('=') {
            Some((name, value)) => (name.trim(), Some(value.trim())),
            None => (text.trim(), None),
        };
        let number = |value: &str| value.parse::<u32>().map_err(|_| refused());
        Ok(match (name, value) {
            ("normal", None) => Self::normal(),
            ("skip-last", Some(count)) => Self::skip_last(number(count)? as usize),
            ("counts", Some(counts)) => {
                let counts: Vec<u32> = counts.split(',').map(number).collect::<Result<_, _>>()?;
                let [added, updated, skipped] = counts[..] else {
                    return Err(refused());
                };
                Self::counts(added, updated, skipped)
            }
            ("internal-error", None) => Self::internal_error(),
            ("validation-error", None) => Self::validation_error(),
            ("status", Some("500")) => Self::server_error(),
            ("status", Some(status @ ("502" | "503" | "504"))) => {
                Self::instead(ScriptedAnswer::gateway(number(status)? as u16))
            }
            ("drop", None) => Self::instead(ScriptedAnswer::drop_connection()),
            ("applied-drop", None) => Self::after_applying(ScriptedAnswer::drop_connection()),
            _ => return Err(refused()),
        })
    }
}

/// The faults scripted for the next `importCustomers` requests, in order, and how many were
/// used since last counted.
#[derive(Debug, Default)]
pub(super) struct ImportFaults {
    queue: VecDeque<ImportFault>,
    used: u64,
}

impl ImportFaults {
    /// Scripts `fault` for the `nth` request from now (1 for the next one), in place of what
    /// was scripted for it; the requests before it with nothing scripted are served as usual.
    pub(super) fn put(&mut self, nth: usize, fault: ImportFault) {
        assert!(
            nth >= 1,
            "the next importCustomers request is the 1st: an import fault's position starts at 1"
        );
        if self.queue.len() < nth {
            self.queue.resize(nth, ImportFault::normal());
        }
        self.queue[nth - 1] = fault;
    }

    /// What to do with the next request.
    pub(super) fn next(&mut self) -> Fault {
        let fault = self.queue.pop_front().unwrap_or_else(ImportFault::normal);
        if fault.is_fault() {
            self.used += 1;
        }
        fault.kind
    }

    /// How many faults were used since the last call.
    pub(super) fn take_used(&mut self) -> u64 {
        std::mem::take(&mut self.used)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_form_and_refuses_the_rest() {
        for text in [
            "normal",
            "skip-last=2",
            "counts=1,2,3",
            "internal-error",
            "validation-error",
            "status=500",
            "status=504",
            "drop",
            "applied-drop",
        ] {
            assert!(text.parse::<ImportFault>().is_ok(), "{text}");
        }
        for text in [
            "",
            "skip-last",
            "skip-last=-1",
            "counts=1,2",
            "status=418",
            "drop=1",
        ] {
            let error = text.parse::<ImportFault>().unwrap_err().to_string();
            assert!(error.contains("skip-last=N"), "{text}: {error}");
        }
        assert!(matches!(
            "counts=1,2,3".parse::<ImportFault>().unwrap().kind,
            Fault::Counts(ImportCounts {
                added: 1,
                updated: 2,
                skipped: 3
            })
        ));
    }

    #[test]
    fn a_fault_goes_to_its_request_and_the_ones_before_are_normal() {
        let mut faults = ImportFaults::default();
        faults.put(3, ImportFault::skip_last(1));
        faults.put(2, ImportFault::internal_error());
        assert!(matches!(faults.next(), Fault::Normal));
        assert!(matches!(faults.next(), Fault::Rejected { .. }));
        assert!(matches!(faults.next(), Fault::SkipLast(1)));
        assert!(matches!(faults.next(), Fault::Normal));
        assert_eq!(faults.take_used(), 2);
        assert_eq!(faults.take_used(), 0);
    }
}

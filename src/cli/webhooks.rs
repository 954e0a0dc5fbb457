//! `plain webhooks verify`: checks one delivery read from stdin, as a receiver would.

use std::io::{Read, Write};
use std::time::Duration;

use plain_client::webhooks::{Webhook, WebhookError, WebhookSecret, DEFAULT_MAX_BODY_BYTES};

use super::Failure;

/// Plain's webhooks.
#[derive(Debug, clap::Subcommand)]
pub enum WebhooksCommand {
    /// Check a delivery as a receiver would, and print its event.
    ///
    /// Reads the raw body from stdin (at most 5 MiB) and the workspace's request-signing secret
    /// from PLAIN_WEBHOOK_SECRET. Prints the event as JSON on stdout and exits 0; or says on
    /// stderr which check failed and exits 9.
    Verify {
        /// The Plain-Request-Signature header's value.
        #[arg(long, value_name = "SIG")]
        signature: String,
        /// How far the attempt's timestamp may be from this machine's clock, in seconds.
        #[arg(long, value_name = "SECONDS", default_value_t = 300)]
        tolerance: u64,
    },
}

/// Runs a `webhooks` subcommand.
/// A delivery that fails a check is [`Failure::WebhookRefused`].
pub fn run(command: WebhooksCommand) -> Result<(), Failure> {
    let WebhooksCommand::Verify {
        signature,
        tolerance,
    } = command;
    let secret = WebhookSecret::from_env().ok_or_else(|| {
        Failure::Io(
            "PLAIN_WEBHOOK_SECRET is not set: set it to the workspace's request-signing secret"
                .to_owned(),
        )
    })?;
    let webhook = Webhook::new(secret).tolerance(Duration::from_secs(tolerance));
    let body = read_body(&mut std::io::stdin().lock(), webhook.body_limit())?;
    let outcome = match body {
        Some(body) => webhook.verify(&body, &signature),
        None => Err(WebhookError::BodyTooLarge {
            limit: DEFAULT_MAX_BODY_BYTES,
        }),
    };
    match outcome {
        Ok(event) => {
            let json = serde_json::to_string(&event)
                .map_err(|e| Failure::Output(format!("cannot write the event: {e}")))?;
            let mut stdout = std::io::stdout().lock();
            writeln!(stdout, "{json}")
                .and_then(|()| stdout.flush())
                .map_err(|e| Failure::Output(format!("cannot write the event: {e}")))?;
            Ok(())
        }
        Err(e) => Err(Failure::WebhookRefused(e)),
    }
}

/// The whole of `input`, or `None` when it is longer than `limit` (read no further).
fn read_body(input: &mut impl Read, limit: usize) -> Result<Option<Vec<u8>>, Failure> {
    let mut body = Vec::new();
    let bound = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    input
        .take(bound)
        .read_to_end(&mut body)
        .map_err(|e| Failure::Io(format!("cannot read the body from stdin: {e}")))?;
    Ok((body.len() <= limit).then_some(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_read_up_to_its_bound() {
        let at = read_body(&mut &[b'x'; 10][..], 10).ok().flatten();
        assert_eq!(at.map(|b| b.len()), Some(10));
        let past = read_body(&mut &[b'x'; 11][..], 10).ok();
        assert_eq!(past, Some(None));
    }
}

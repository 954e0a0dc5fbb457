//! The progress of a sync: a bar on a terminal, a line every few seconds otherwise.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use super::summary::Summary;

/// Shows how far the run is: a bar on a terminal, a line every few seconds otherwise.
pub(super) struct Progress {
    bar: Option<indicatif::ProgressBar>,
    last_line: Instant,
    started: Instant,
    quiet: bool,
}

impl Progress {
    pub(super) fn new(quiet: bool, total: Option<u64>) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let bar = (!quiet && terminal).then(|| {
            let bar = match total {
                Some(total) => indicatif::ProgressBar::new(total),
                None => indicatif::ProgressBar::no_length(),
            };
            let style = indicatif::ProgressStyle::with_template(
                "{bar:30} {pos}/{len} records  {per_sec}  ETA {eta}  {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
            bar.set_style(style);
            bar
        });
        Self {
            bar,
            last_line: Instant::now(),
            started: Instant::now(),
            quiet,
        }
    }

    pub(super) fn update(&mut self, summary: &Summary) {
        let counts = || {
            let mut counts = format!(
                "created {} updated {} noop {} unchanged {} failed {}",
                summary.created,
                summary.updated,
                summary.noop,
                summary.unchanged,
                summary.failed + summary.malformed
            );
            if summary.imported > 0 {
                counts.push_str(&format!(
                    " imported {}; {} requests",
                    summary.imported, summary.requests
                ));
            }
            counts
        };
        if let Some(bar) = &self.bar {
            bar.set_position(summary.done());
            bar.set_message(counts());
            return;
        }
        if self.quiet || self.last_line.elapsed() < Duration::from_secs(5) {
            return;
        }
        self.last_line = Instant::now();
        let rate = summary.done() as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
        eprintln!(
            "plain: {} records, {rate:.0}/s: {}",
            summary.done(),
            counts()
        );
    }

    pub(super) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

//! Progress of a long run (`--stress`): a live bar on a terminal, plain lines otherwise.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// How often a plain progress line is written when stderr is not a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(1);

/// Tracks a run's progress until [`Progress::finish`]: `done()` is polled ten times a second.
///
/// On a terminal (stderr) it draws an `indicatif` bar with a rounded rate and an ETA. Off a
/// terminal (a pipe, a CI log) it writes a plain line such as
/// `progress: 1200/3211 channels (37 %), 2905 channels/s, ETA 1 s` at the start, once a
/// second, and at the end. Quiet (nothing at all) when `quiet` is set, e.g. under
/// `--json-logs`, where stderr carries JSON lines only.
#[derive(Debug)]
pub struct Progress {
    poll: tokio::task::JoinHandle<()>,
    view: View,
}

#[derive(Debug, Clone)]
enum View {
    Bar(indicatif::ProgressBar),
    Lines {
        total: u64,
        unit: &'static str,
        started: Instant,
    },
    Quiet,
}

impl View {
    fn show(&self, done: u64) {
        match self {
            Self::Bar(bar) => bar.set_position(done),
            Self::Lines {
                total,
                unit,
                started,
            } => eprintln!("{}", plain_line(done, *total, unit, started.elapsed())),
            Self::Quiet => {}
        }
    }
}

/// One plain progress line, every figure rounded.
fn plain_line(done: u64, total: u64, unit: &str, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    // Counts far below 2^52: exact as f64.
    #[allow(clippy::cast_precision_loss)]
    let (done_f, total_f) = (done as f64, total as f64);
    let percent = if total == 0 {
        100.0
    } else {
        100.0 * done_f / total_f
    };
    let rate = if secs > 0.0 { done_f / secs } else { 0.0 };
    let eta = if done >= total {
        "0 s".to_owned()
    } else if rate > 0.0 {
        format!("{:.0} s", ((total_f - done_f) / rate).ceil())
    } else {
        "unknown".to_owned()
    };
    format!("progress: {done}/{total} {unit} ({percent:.0} %), {rate:.0} {unit}/s, ETA {eta}")
}

impl Progress {
    /// Starts tracking `done()` out of `total` `unit`s (e.g. `"channels"`).
    #[must_use]
    pub fn start(
        total: u64,
        unit: &'static str,
        quiet: bool,
        done: impl Fn() -> u64 + Send + 'static,
    ) -> Self {
        let view = if quiet {
            View::Quiet
        } else if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new(total);
            let template = format!(
                "{{spinner}} [{{elapsed_precise}}] {{bar:40}} {{pos}}/{{len}} {unit} ({{rate}}, ETA {{eta}})"
            );
            let style = indicatif::ProgressStyle::with_template(&template)
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .with_key(
                    "rate",
                    move |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = write!(w, "{:.0} {unit}/s", state.per_sec());
                    },
                );
            bar.set_style(style);
            View::Bar(bar)
        } else {
            View::Lines {
                total,
                unit,
                started: Instant::now(),
            }
        };
        view.show(0);
        let poll = {
            let view = view.clone();
            tokio::spawn(async move {
                let mut last_line = Instant::now();
                loop {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    match &view {
                        View::Bar(_) => view.show(done()),
                        View::Lines { .. } if last_line.elapsed() >= PLAIN_EVERY => {
                            last_line = Instant::now();
                            view.show(done());
                        }
                        _ => {}
                    }
                }
            })
        };
        Self { poll, view }
    }

    /// Stops tracking: the bar is cleared; off a terminal a last line says where the run ended.
    pub fn finish(self, done: u64) {
        self.poll.abort();
        match &self.view {
            View::Bar(bar) => bar.finish_and_clear(),
            View::Lines { .. } => self.view.show(done),
            View::Quiet => {}
        }
    }
}

impl Drop for Progress {
    /// A run that failed or was interrupted stops its progress too.
    fn drop(&mut self) {
        self.poll.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_lines_are_rounded_and_give_an_eta() {
        assert_eq!(
            plain_line(1200, 3211, "channels", Duration::from_millis(413)),
            "progress: 1200/3211 channels (37 %), 2906 channels/s, ETA 1 s"
        );
        assert_eq!(
            plain_line(3211, 3211, "channels", Duration::from_secs(2)),
            "progress: 3211/3211 channels (100 %), 1606 channels/s, ETA 0 s"
        );
        assert_eq!(
            plain_line(0, 10, "orders", Duration::ZERO),
            "progress: 0/10 orders (0 %), 0 orders/s, ETA unknown"
        );
    }
}

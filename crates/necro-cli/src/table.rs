//! Text output helpers: aligned tables, one-line truncation, times and durations the way a
//! person reads them.

use std::fmt::Write;
use std::time::Duration;

use time::OffsetDateTime;
use time::macros::format_description;

/// Columns aligned on the widest cell (in characters), two spaces apart; the last column is
/// not padded.
pub(crate) fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let pad = widths.get(i).copied().unwrap_or(0);
                let _ = write!(line, "{cell:<pad$}  ");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `text` on one line (line breaks and tabs become spaces), cut to `max` characters with `…`.
pub(crate) fn one_line(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() <= max {
        return flat;
    }
    let mut cut: String = flat.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// `2024-01-15 10:30:45` (UTC).
pub(crate) fn short_time(t: OffsetDateTime) -> String {
    let utc = t.to_offset(time::UtcOffset::UTC);
    utc.format(format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second]"
    ))
    .unwrap_or_else(|_| necro_core::format_timestamp(t))
}

/// `1h 2m 3s` (whole seconds; milliseconds under a second).
pub(crate) fn duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        return format!("{}ms", d.as_millis());
    }
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

/// Milliseconds, for JSON.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_and_text_is_cut_to_one_line() {
        let t = table(
            &["id", "reason"],
            &[
                vec!["1-0".to_owned(), "boom".to_owned()],
                vec!["12345-0".to_owned(), "x".to_owned()],
            ],
        );
        assert_eq!(t, "id       reason\n1-0      boom\n12345-0  x\n");
        assert_eq!(one_line("a\nb", 10), "a b");
        assert_eq!(one_line("abcdef", 4), "abc…");
        assert_eq!(duration(Duration::from_millis(3_723_400)), "1h 2m 3s");
        assert_eq!(duration(Duration::from_millis(12)), "12ms");
        let t = OffsetDateTime::from_unix_timestamp(1_705_314_645).unwrap();
        assert_eq!(short_time(t), "2024-01-15 10:30:45");
    }
}

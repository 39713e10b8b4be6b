//! The dead-letter section of the live page: the count, filters, one page of the newest
//! entries and, when the application enabled them, the replay and purge controls.

use std::fmt::Write as _;

use necro_core::{
    BackendError, DeadLetterEntry, DeadLetterQuery, InvalidDeadLetterId, ListOrder, error_chain,
};
use time::OffsetDateTime;
use time::macros::format_description;

use super::query::{BadQuery, Done, PageQuery, Status};
use super::{KINDS, PAGE_SIZE, Shared, Source, kind_name};
use crate::html::{clip, esc};

/// How many characters of a reason the table shows.
const REASON_CHARS: usize = 300;
/// How many characters of a payload the table shows (when payloads are shown at all).
const PAYLOAD_CHARS: usize = 500;

/// The section for `query`, read from `source` now. An invalid cursor is a bad query; any
/// other failure of the queue is shown in the section.
pub(crate) async fn section(
    shared: &Shared,
    source: &Source,
    query: &PageQuery,
) -> Result<String, BadQuery> {
    let listing = DeadLetterQuery::new(PAGE_SIZE)
        .order(ListOrder::NewestFirst)
        .filter(query.filter())
        .after(query.after.clone());
    let count = source.0.count().await;
    let page = match source.0.page(&listing).await {
        Err(BackendError::Other(e)) if e.is::<InvalidDeadLetterId>() => return Err(BadQuery),
        page => page,
    };
    let mut o = String::with_capacity(8192);
    o.push_str(r#"<section id="dead-letter-queue"><h2>Dead-letter queue</h2>"#);
    if let Some(status) = query.status {
        status_line(&mut o, status);
    }
    match &count {
        Ok(n) => {
            let _ = write!(
                o,
                r#"<p class="note"><span id="dlq-count">{n}</span> held{}</p>"#,
                if shared.admin.is_some() {
                    " · actions need the admin token"
                } else {
                    " · read-only"
                }
            );
        }
        Err(e) => {
            let _ = write!(
                o,
                r#"<p class="bad">count unavailable: {}</p>"#,
                esc(&error_chain(e))
            );
        }
    }
    filters(&mut o, query);
    match page {
        Ok(page) => {
            table(&mut o, shared, &page.entries);
            pager(&mut o, query, page.next.as_ref());
        }
        Err(e) => {
            let _ = write!(
                o,
                r#"<p class="bad" id="dlq-error">the dead-letter queue did not answer: {}</p>"#,
                esc(&error_chain(&e))
            );
        }
    }
    o.push_str("</section>");
    Ok(o)
}

fn status_line(o: &mut String, s: Status) {
    let mut text = format!("{} {}", s.done.as_str(), s.count);
    if s.missing > 0 {
        let _ = write!(text, " · {} no longer held", s.missing);
    }
    if s.skipped > 0 {
        let _ = write!(text, " · {} unreadable, left in place", s.skipped);
    }
    let class = if s.count > 0 || s.done == Done::Purged {
        "ok"
    } else {
        "warn"
    };
    let _ = write!(o, r#"<p id="dlq-status" class="{class}">{text}</p>"#);
}

fn filters(o: &mut String, q: &PageQuery) {
    let _ = write!(
        o,
        r#"<form method="get" action="/" class="dlq-filters"><label>organ <input name="dlq_organ" maxlength="128" value="{}"></label> <label>event type <input name="dlq_type" maxlength="128" value="{}"></label> <label>kind <select name="dlq_kind"><option value="">any</option>"#,
        esc(q.organ.as_deref().unwrap_or("")),
        esc(q.event_type.as_deref().unwrap_or("")),
    );
    for k in KINDS {
        let _ = write!(
            o,
            r#"<option value="{n}"{sel}>{n}</option>"#,
            n = kind_name(k),
            sel = if q.kind == Some(k) { " selected" } else { "" }
        );
    }
    o.push_str(
        r#"</select></label> <button type="submit">filter</button> <a href="/">clear</a></form>"#,
    );
}

fn table(o: &mut String, shared: &Shared, entries: &[DeadLetterEntry]) {
    let actions = shared.admin.is_some();
    if actions {
        o.push_str(r#"<form method="post" id="dlq-actions" action="/dead-letters/replay"><p><label>admin token <input type="password" name="token" id="dlq-token" autocomplete="off" required></label> <button type="submit" id="dlq-replay-selected" formaction="/dead-letters/replay">replay selected</button> <button type="submit" id="dlq-purge-selected" formaction="/dead-letters/purge">purge selected</button></p>"#);
    }
    o.push_str(r#"<div class="scroll"><table id="dead-letters"><thead><tr>"#);
    if actions {
        o.push_str("<th>select</th>");
    }
    o.push_str("<th>id</th><th>failed at (UTC)</th><th>age</th><th>event type</th><th>organ</th><th>kind</th><th>attempts</th><th>reason</th>");
    if shared.show_payloads {
        o.push_str("<th>payload</th>");
    }
    if actions {
        o.push_str("<th>actions</th>");
    }
    o.push_str("</tr></thead><tbody>");
    if entries.is_empty() {
        let _ = write!(
            o,
            r#"<tr><td colspan="12" class="muted" id="dlq-empty">no dead letters match</td></tr>"#
        );
    }
    let now = OffsetDateTime::now_utc();
    for entry in entries {
        row(o, shared, entry, now);
    }
    o.push_str("</tbody></table></div>");
    if actions {
        o.push_str("</form>");
    }
}

fn row(o: &mut String, shared: &Shared, e: &DeadLetterEntry, now: OffsetDateTime) {
    let id = esc(e.id.as_str());
    let (attempts, failed_at) = match &e.letter {
        Ok(l) => (Some(l.attempts), Some(l.failed_at)),
        Err(u) => (u.attempts, u.failed_at),
    };
    let _ = write!(o, r#"<tr data-dlq-id="{id}">"#);
    if shared.admin.is_some() {
        let _ = write!(
            o,
            r#"<td><input type="checkbox" name="id" value="{id}" aria-label="select {id}"></td>"#
        );
    }
    let _ = write!(
        o,
        r#"<td class="name">{id}</td><td>{at}</td><td>{age}</td><td class="name">{ty}</td><td class="name">{organ}</td><td>{kind}</td><td>{attempts}</td><td class="reason">{reason}</td>"#,
        at = failed_at.map_or_else(|| "–".to_owned(), timestamp),
        age = failed_at.map_or_else(|| "–".to_owned(), |t| age(now - t)),
        ty = e
            .event_type()
            .map_or_else(|| "(unreadable)".to_owned(), esc),
        organ = esc(e.organ().unwrap_or("–")),
        kind = e.kind().map_or("–", kind_name),
        attempts = attempts.map_or_else(|| "–".to_owned(), |a| a.to_string()),
        reason = esc(&clip(e.reason(), REASON_CHARS)),
    );
    if shared.show_payloads {
        let payload = match &e.letter {
            Ok(l) => serde_json::to_string(l.event.payload()).unwrap_or_default(),
            Err(u) => u.raw_event.clone(),
        };
        let _ = write!(
            o,
            r#"<td class="payload"><code>{}</code></td>"#,
            esc(&clip(&payload, PAYLOAD_CHARS))
        );
    }
    if shared.admin.is_some() {
        let _ = write!(
            o,
            r#"<td><button type="submit" name="one" value="{id}" formaction="/dead-letters/replay" class="dlq-replay">replay</button> <button type="submit" name="one" value="{id}" formaction="/dead-letters/purge" class="dlq-purge">purge</button></td>"#
        );
    }
    o.push_str("</tr>");
}

fn pager(o: &mut String, q: &PageQuery, next: Option<&necro_core::DeadLetterId>) {
    o.push_str(r#"<p class="note dlq-pager">"#);
    if q.after.is_some() {
        let _ = write!(
            o,
            r#"<a id="dlq-newest" href="{}">← newest</a> "#,
            esc(&q.href(None))
        );
    }
    match next {
        Some(next) => {
            let _ = write!(
                o,
                r#"<a id="dlq-older" href="{}">older →</a>"#,
                esc(&q.href(Some(next)))
            );
        }
        None => o.push_str(&format!("newest first, {PAGE_SIZE} a page")),
    }
    o.push_str("</p>");
}

fn timestamp(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.format(format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second]"
    ))
    .unwrap_or_else(|_| "–".to_owned())
}

/// `12 s`, `5 min`, `3 h`, `2 d` (a clock behind the worker's shows `0 s`).
fn age(d: time::Duration) -> String {
    let s = d.whole_seconds().max(0);
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => format!("{} h", s / 3600),
        _ => format!("{} d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_in_one_unit() {
        assert_eq!(age(time::Duration::seconds(-3)), "0 s");
        assert_eq!(age(time::Duration::seconds(59)), "59 s");
        assert_eq!(age(time::Duration::seconds(125)), "2 min");
        assert_eq!(age(time::Duration::hours(5)), "5 h");
        assert_eq!(age(time::Duration::days(3)), "3 d");
    }
}

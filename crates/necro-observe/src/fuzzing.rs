//! Entry points for the fuzz targets (`fuzz/` at the repository's root) and the test that
//! replays their seed corpus: not part of the API, and not covered by SemVer.

use crate::dead_letters::query::PageQuery;

/// Reads a live-page query string as the page does (`GET /?…`, the dead-letter section's
/// filters, cursor and status line).
///
/// # Panics
/// When an invariant breaks: a query the page accepts must give a link (`href`) that the page
/// reads back to the same filters and cursor.
pub fn live_query(data: &[u8]) {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(query) = PageQuery::parse(Some(raw)) else {
        return;
    };
    let href = query.href(query.after.as_ref());
    let again = href
        .strip_prefix("/?")
        .map_or(Ok(PageQuery::default()), |q| PageQuery::parse(Some(q)));
    let Ok(again) = again else {
        panic!("the page refuses its own link {href:?} (from {raw:?})");
    };
    assert_eq!(
        (&again.organ, again.kind, &again.event_type, &again.after),
        (&query.organ, query.kind, &query.event_type, &query.after),
        "the link {href:?} reads back otherwise (from {raw:?})"
    );
}

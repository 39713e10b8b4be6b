//! `POST /dead-letters/replay` and `POST /dead-letters/purge`: the page's actions, only with
//! the admin token, answered with a redirect (303) back to the page and its status line.

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, HeaderMap};
use hyper::{Request, StatusCode};

use necro_core::{DeadLetterId, DeadLetterSelection, error_chain};

use super::query::{Done, Status, id};
use super::{Shared, Source};

/// The largest form accepted, in bytes.
const MAX_FORM: usize = 64 * 1024;
/// The most ids one action takes.
const MAX_IDS: usize = 1000;

/// Which action a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Replay,
    Purge,
}

impl Action {
    /// The action of `path`, if it is an action path.
    pub(crate) fn of(path: &str) -> Option<Self> {
        match path {
            "/dead-letters/replay" => Some(Self::Replay),
            "/dead-letters/purge" => Some(Self::Purge),
            _ => None,
        }
    }
}

/// How an action ended: a redirect to the page, or a status with a fixed message.
#[derive(Debug)]
pub(crate) enum Outcome {
    Redirect(String),
    Refused(StatusCode, &'static str),
}

/// Runs `action` for `req`: checks the token, reads the selected ids, acts.
pub(crate) async fn run(
    shared: &Shared,
    source: &Source,
    action: Action,
    req: Request<Incoming>,
) -> Outcome {
    let forbidden = Outcome::Refused(StatusCode::FORBIDDEN, "forbidden\n");
    let Some(admin) = &shared.admin else {
        return forbidden;
    };
    let header_token = header_token(req.headers());
    let body = match Limited::new(req.into_body(), MAX_FORM).collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            return Outcome::Refused(StatusCode::PAYLOAD_TOO_LARGE, "payload too large\n");
        }
        Err(_) => return Outcome::Refused(StatusCode::BAD_REQUEST, "bad request\n"),
    };
    let mut form_token: Option<Vec<u8>> = None;
    let mut ids: Vec<String> = Vec::new();
    let mut one: Option<String> = None;
    let mut malformed = false;
    for (key, value) in form_urlencoded::parse(&body) {
        match key.as_ref() {
            "token" if form_token.is_none() => form_token = Some(value.as_bytes().to_vec()),
            "id" if ids.len() < MAX_IDS => ids.push(value.into_owned()),
            "one" if one.is_none() => one = Some(value.into_owned()),
            _ => malformed = true,
        }
    }
    // The token first: without it, nothing about the request is told.
    let authorized = header_token
        .as_deref()
        .or(form_token.as_deref())
        .is_some_and(|t| admin.matches(t));
    if !authorized {
        return forbidden;
    }
    if malformed {
        return Outcome::Refused(StatusCode::BAD_REQUEST, "bad request\n");
    }
    let chosen = match one {
        Some(one) => vec![one],
        None => ids,
    };
    if chosen.is_empty() {
        return Outcome::Refused(StatusCode::BAD_REQUEST, "no dead letter selected\n");
    }
    let Ok(chosen) = chosen
        .iter()
        .map(|v| id(v))
        .collect::<Result<Vec<DeadLetterId>, _>>()
    else {
        return Outcome::Refused(StatusCode::BAD_REQUEST, "bad request\n");
    };
    let selection = DeadLetterSelection::Ids(chosen);
    let status = match action {
        Action::Replay => source.0.replay(&selection).await.map(|r| Status {
            done: Done::Replayed,
            count: r.replayed.len() as u64,
            missing: r.missing.len() as u64,
            skipped: r.skipped.len() as u64,
        }),
        Action::Purge => source.0.purge(&selection).await.map(|r| Status {
            done: Done::Purged,
            count: r.purged,
            missing: r.missing.len() as u64,
            skipped: 0,
        }),
    };
    match status {
        Ok(status) => {
            tracing::info!(
                target: "necro_observe",
                action = status.done.as_str(),
                count = status.count,
                missing = status.missing,
                skipped = status.skipped,
                "dead-letter action from the live page"
            );
            Outcome::Redirect(status.location())
        }
        Err(e) => {
            tracing::warn!(
                target: "necro_observe",
                error = %error_chain(&e),
                "dead-letter action from the live page failed"
            );
            Outcome::Refused(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the dead-letter queue failed\n",
            )
        }
    }
}

/// The token of `Authorization: Bearer …` or `X-Necro-Token: …`, when either is sent.
fn header_token(headers: &HeaderMap) -> Option<Vec<u8>> {
    if let Some(v) = headers.get("x-necro-token") {
        return Some(v.as_bytes().to_vec());
    }
    let auth = headers.get(AUTHORIZATION)?.as_bytes();
    let bearer = auth
        .get(..7)
        .filter(|p| p.eq_ignore_ascii_case(b"bearer "))
        .map(|_| &auth[7..]);
    // Another scheme counts as a wrong token, not as no token.
    Some(bearer.unwrap_or_default().to_vec())
}

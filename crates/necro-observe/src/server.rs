//! The metrics listener's HTTP side: routing, the dead-letter section and its actions, and
//! the headers every response carries.

use std::convert::Infallible;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{
    ALLOW, CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, HeaderValue, LOCATION,
    REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use crate::dead_letters::action::{self, Action, Outcome};
use crate::dead_letters::query::PageQuery;
use crate::dead_letters::{Shared, render};
use crate::handle::{MetricsHandle, Samples};
use crate::{page, view};

/// The Content-Security-Policy of every response: nothing but what the page itself uses
/// (its inline style, its own script and `/view` fetches, forms posting back to it).
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; \
     style-src 'unsafe-inline'; img-src data:; form-action 'self'; base-uri 'none'; \
     frame-ancestors 'none'";

/// What the handlers read.
pub(crate) struct State {
    pub(crate) handle: MetricsHandle,
    pub(crate) samples: Samples,
    pub(crate) dead_letters: Arc<Shared>,
}

pub(crate) async fn accept_loop(listener: tokio::net::TcpListener, state: Arc<State>) {
    loop {
        let Ok((stream, _peer)) = listener.accept().await else {
            // Out of file descriptors or similar: back off instead of spinning.
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let state = Arc::clone(&state);
                async move { Ok::<_, Infallible>(route(&state, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

type Res = Response<Full<Bytes>>;

async fn route(state: &State, req: Request<Incoming>) -> Res {
    let source = state.dead_letters.source();
    let path = req.uri().path();
    if let (Some(action), Some(source)) = (Action::of(path), &source) {
        if req.method() != Method::POST {
            return not_allowed("POST");
        }
        return match action::run(&state.dead_letters, source, action, req).await {
            Outcome::Redirect(to) => {
                let mut res = respond(StatusCode::SEE_OTHER, "text/plain", "see other\n".into());
                if let Ok(to) = HeaderValue::from_str(&to) {
                    res.headers_mut().insert(LOCATION, to);
                }
                res
            }
            Outcome::Refused(status, text) => respond(status, "text/plain", text.into()),
        };
    }
    let known = matches!(path, "/" | "/metrics" | "/view" | "/live.js");
    if !known {
        return respond(StatusCode::NOT_FOUND, "text/plain", "not found\n".into());
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return not_allowed("GET, HEAD");
    }
    match path {
        "/metrics" => respond(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            state.handle.render(),
        ),
        "/view" => respond(
            StatusCode::OK,
            "text/html; charset=utf-8",
            view::fragment(&current(state)),
        ),
        "/live.js" => respond(
            StatusCode::OK,
            "text/javascript; charset=utf-8",
            page::SCRIPT.into(),
        ),
        _ => {
            let section = match &source {
                None => None,
                Some(source) => {
                    let shown = match PageQuery::parse(req.uri().query()) {
                        Ok(q) => render::section(&state.dead_letters, source, &q).await,
                        Err(bad) => Err(bad),
                    };
                    match shown {
                        Ok(html) => Some(html),
                        Err(_) => {
                            return respond(
                                StatusCode::BAD_REQUEST,
                                "text/plain",
                                "bad request: invalid dead-letter query\n".into(),
                            );
                        }
                    }
                }
            };
            respond(
                StatusCode::OK,
                "text/html; charset=utf-8",
                page::page(&current(state), section.as_deref()),
            )
        }
    }
}

fn current(state: &State) -> view::View {
    let snapshot = state.handle.snapshot();
    let samples: Vec<f64> = state
        .samples
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .copied()
        .collect();
    view::View::new(snapshot, &samples)
}

fn not_allowed(allow: &'static str) -> Res {
    let mut res = respond(
        StatusCode::METHOD_NOT_ALLOWED,
        "text/plain",
        "method not allowed\n".into(),
    );
    res.headers_mut()
        .insert(ALLOW, HeaderValue::from_static(allow));
    res
}

/// A response with the listener's headers: no caching, no sniffing, the page's CSP.
fn respond(status: StatusCode, content_type: &'static str, body: String) -> Res {
    let mut res = Response::new(Full::new(Bytes::from(body)));
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    res
}

//! `GET /_mock/ui` (and its script `/_mock/ui/app.js`): the dashboard. It lives under `/_mock`
//! so that the control API's guard (`routes::observe`: open on loopback, `Bearer <admin
//! token>` with `--admin-token`) covers it too, and its script calls only `/_mock/...`
//! endpoints — the dashboard can do nothing the control API cannot.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::ui::{DASHBOARD_CSP, DASHBOARD_HTML, DASHBOARD_JS, html, page};

/// `GET /_mock/ui`.
pub(super) async fn dashboard() -> Response {
    html(
        page("dashboard", DASHBOARD_HTML, "/_mock/ui/app.js"),
        DASHBOARD_CSP,
    )
}

/// `GET /_mock/ui/app.js`.
pub(super) async fn script() -> Response {
    let mut r = DASHBOARD_JS.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

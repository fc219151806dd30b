//! The two pages for people (not for CI): the interactive consent page and the dashboard.
//! Everything is embedded with `include_str!` — no external assets, no CDN, no build step —
//! and every value that came from configuration or a request is HTML-escaped by [`esc`].
//!
//! Each page gets a strict `Content-Security-Policy` (CSP Level 3): no script on the consent
//! page at all (it works as a plain HTML form), only the dashboard's own `/_mock/ui/app.js` on
//! the dashboard, never framed (`frame-ancestors 'none'`, against clickjacking of Approve).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// The page skeleton both pages share: `{{title}}`, `{{csp_note}}`, `{{body}}`, `{{script}}`.
pub const PAGE_HTML: &str = include_str!("page.html");
/// The stylesheet shared by both pages (inlined into `<style>`).
pub const STYLE_CSS: &str = include_str!("style.css");
/// The dashboard's body (static; the script fills it from the control API).
pub const DASHBOARD_HTML: &str = include_str!("dashboard.html");
/// The dashboard's script: calls only `/_mock/...` control endpoints.
pub const DASHBOARD_JS: &str = include_str!("dashboard.js");

/// HTML-escape text for element content and quoted attribute values (OWASP XSS prevention
/// rule #1/#2: `& < > " '`).
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Fill `{{name}}` markers of `template` in one pass over the template only: a value that
/// itself contains `{{...}}` is inserted verbatim, never expanded again. Unknown markers stay.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out =
        String::with_capacity(template.len() + values.iter().map(|v| v.1.len()).sum::<usize>());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find("}}") {
            Some(end) => {
                let name = &after[..end];
                match values.iter().find(|(k, _)| *k == name) {
                    Some((_, v)) => out.push_str(v),
                    None => {
                        out.push_str("{{");
                        out.push_str(name);
                        out.push_str("}}");
                    }
                }
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// A whole page: the skeleton with the shared style, `title` (escaped here) and `body`
/// (already escaped HTML), with `script` (a same-origin URL or empty).
pub fn page(title: &str, body: &str, script: &str) -> String {
    let script_tag = if script.is_empty() {
        String::new()
    } else {
        format!("<script src=\"{}\" defer></script>", esc(script))
    };
    fill(
        PAGE_HTML,
        &[
            ("title", &esc(title)),
            ("style", STYLE_CSS),
            ("body", body),
            ("script", &script_tag),
        ],
    )
}

/// `200 text/html` with no caching (the page carries a single-use CSRF token), no framing and
/// the given Content-Security-Policy.
pub fn html(body: String, csp: &str) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if let Ok(v) = HeaderValue::from_str(csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    r
}

/// The CSP of a page without script that submits a form: styles inline, the form may post to
/// this origin, and (Chromium applies `form-action` to the redirect after the POST too) go on
/// to `redirect_origin`, the client's registered redirect URI.
pub fn form_csp(redirect_origin: Option<&str>) -> String {
    let extra = redirect_origin
        .filter(|o| !o.contains([';', ',', '\r', '\n']))
        .map(|o| format!(" {o}"))
        .unwrap_or_default();
    format!(
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'{extra}; frame-ancestors 'none'; base-uri 'none'"
    )
}

/// The dashboard's CSP: its own script, calls to its own origin only.
pub const DASHBOARD_CSP: &str = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn esc_escapes_every_markup_character() {
        assert_eq!(
            esc(r#"<script>alert("x" & 'y')</script>"#),
            "&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;"
        );
    }

    #[test]
    fn fill_never_expands_inserted_values() {
        let t = "<h1>{{title}}</h1>{{body}}{{unknown}}";
        let out = fill(t, &[("title", "{{body}}"), ("body", "B")]);
        assert_eq!(out, "<h1>{{body}}</h1>B{{unknown}}");
        assert_eq!(fill("a {{open", &[]), "a {{open");
    }

    #[test]
    fn form_csp_refuses_a_directive_injection() {
        assert!(form_csp(Some("http://x; script-src *")).contains("form-action 'self';"));
        assert!(
            form_csp(Some("http://127.0.0.1:1")).contains("form-action 'self' http://127.0.0.1:1;")
        );
    }
}

//! The oracle: what every answer must look like (no 5xx, redirects with a `Location`, error
//! bodies in their path family's shape).

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Family {
    OAuth,
    Descope,
    Mock,
}

/// The documented rule (error.rs, README "Error codes").
pub(crate) fn family(path: &str) -> Family {
    let dcr = path.starts_with("/v1/mgmt/mcp/client/") && path.ends_with("/register");
    if path.starts_with("/oauth2/") || path == "/oauth2" || dcr {
        Family::OAuth
    } else if path == "/_mock" || path.starts_with("/_mock/") || path.starts_with("/_upstream/") {
        Family::Mock
    } else if path.starts_with("/v1/") || path.starts_with("/v2/") || path.contains("/.well-known/")
    {
        Family::Descope
    } else {
        Family::Mock
    }
}

/// One answer, as the client saw it.
#[derive(Debug)]
pub(crate) struct Answer {
    /// The path the server saw (what picks the error shape).
    pub(crate) path: String,
    pub(crate) status: u16,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

pub(crate) fn check(method: &Method, a: &Answer) -> Result<(), String> {
    let status = a.status;
    if status >= 500 {
        return Err(format!("{status}: a server error"));
    }
    if (300..400).contains(&status) && !a.headers.contains_key(header::LOCATION) {
        return Err(format!("{status} without Location"));
    }
    if *method == Method::HEAD {
        return Ok(());
    }
    let is_json = a
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"));
    if status < 400 {
        if is_json && !a.body.is_empty() {
            serde_json::from_slice::<Value>(&a.body)
                .map_err(|e| format!("{status}: JSON body does not parse: {e}"))?;
        }
        return Ok(());
    }
    if !is_json {
        return Err(format!(
            "{status}: error without Content-Type application/json ({:?})",
            a.headers.get(header::CONTENT_TYPE)
        ));
    }
    let v: Value = serde_json::from_slice(&a.body)
        .map_err(|e| format!("{status}: error body is not JSON: {e}"))?;
    let o = v
        .as_object()
        .ok_or_else(|| format!("{status}: error body is not an object: {v}"))?;
    let fam = family(&a.path);
    let (needed, forbidden): (&[&str], &[&str]) = match fam {
        Family::OAuth => (&["error", "error_description"], &["errorCode", "message"]),
        Family::Descope => (
            &["errorCode", "errorDescription", "errorMessage"],
            &["error", "message"],
        ),
        Family::Mock => (&["error", "message"], &["errorCode", "error_description"]),
    };
    for k in needed {
        if !o.get(*k).is_some_and(Value::is_string) {
            return Err(format!(
                "{status}: {fam:?}-family error lacks string {k:?}: {v}"
            ));
        }
    }
    for k in forbidden {
        if o.contains_key(*k) {
            return Err(format!("{status}: {fam:?}-family error carries {k:?}: {v}"));
        }
    }
    Ok(())
}

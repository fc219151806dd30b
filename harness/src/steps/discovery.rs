//! Steps of `discovery.feature`: protected resource metadata and the AS it names (checklist 1-12).

use cucumber::{given, then, when};
use serde_json::Value;

use crate::world::{AuthWorld, FetchedMetadata, OriginAnswer};

/// GET a metadata document: bounded by the run's timeouts and the body cap, never following a
/// redirect (a redirect is an answer of its own, 3xx).
async fn get_json(w: &AuthWorld, url: &str) -> Result<(u16, String, Value), String> {
    let t = w.profile().timeouts;
    let r = crate::http::fetch(crate::http::client(&t).get(url), &t)
        .await
        .map_err(|e| format!("GET {e}"))?;
    Ok((r.status, r.content_type().to_string(), r.json()))
}

#[given("the client has fetched the protected resource metadata")]
#[when("the client fetches the protected resource metadata")]
async fn fetch_prm(w: &mut AuthWorld) {
    // From the challenge's resource_metadata if the server gave one, else the well-known URLs.
    w.token = None;
    w.initialize().await;
    let from_challenge = w
        .last()
        .bearer_challenge()
        .ok()
        .flatten()
        .and_then(|c| c.param("resource_metadata").map(str::to_string));
    let mut urls: Vec<String> = from_challenge.into_iter().collect();
    urls.extend(crate::probe::prm_candidates(w.profile().resource()));
    for u in urls {
        if let Ok((200, ct, v)) = get_json(w, &u).await {
            w.prm = Some(FetchedMetadata {
                url: u,
                content_type: ct,
                doc: v,
            });
            return;
        }
    }
    w.fail("no protected resource metadata found: neither the challenge's resource_metadata nor the well-known URLs answered 200");
}

fn prm(w: &AuthWorld) -> Value {
    w.prm.as_ref().map(|m| m.doc.clone()).unwrap_or(Value::Null)
}

#[then("the resource_metadata URL serves the metadata as JSON")]
async fn rm_serves_json(w: &mut AuthWorld) {
    let c = w.challenge();
    let Some(u) = c.param("resource_metadata") else {
        w.fail("the challenge has no resource_metadata")
    };
    match get_json(w, u).await {
        Ok((200, ct, v)) if ct.starts_with("application/json") && v.is_object() => {}
        Ok((s, ct, _)) => w.fail(&format!(
            "GET {u} answered {s} with content-type {ct:?}, expected 200 application/json"
        )),
        Err(e) => w.fail(&e),
    }
}

#[then("the metadata is served at a well-known URL of the resource")]
async fn prm_well_known(w: &mut AuthWorld) {
    let cands = crate::probe::prm_candidates(w.profile().resource());
    for u in &cands {
        if let Ok((200, _, v)) = get_json(w, u).await
            && v.is_object()
        {
            return;
        }
    }
    w.fail(&format!(
        "none of {cands:?} serves protected resource metadata"
    ));
}

#[then("the metadata names the server's canonical URL as its resource")]
async fn prm_resource(w: &mut AuthWorld) {
    let v = prm(w);
    let want = w.profile().resource().to_string();
    let got = v
        .get("resource")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if got != want {
        w.fail(&format!(
            "PRM resource is {got:?}, expected the canonical URL {want:?} (RFC 9728 §3.3)"
        ));
    }
    if url::Url::parse(got)
        .map(|u| u.fragment().is_some())
        .unwrap_or(true)
    {
        w.fail(&format!(
            "PRM resource {got:?} must be an absolute URL without a fragment"
        ));
    }
}

#[then("the metadata lists at least one authorization server")]
async fn prm_as(w: &mut AuthWorld) {
    let v = prm(w);
    let ok = v
        .get("authorization_servers")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty() && a.iter().all(Value::is_string));
    if !ok {
        w.fail(&format!(
            "authorization_servers must be a non-empty array of issuer URLs, got {}",
            v.get("authorization_servers").unwrap_or(&Value::Null)
        ));
    }
}

#[then("each authorization server's metadata has exactly that issuer")]
async fn prm_as_issuer(w: &mut AuthWorld) {
    let v = prm(w);
    for iss in v
        .get("authorization_servers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        let Ok(u) = url::Url::parse(iss) else {
            w.fail(&format!("authorization server {iss:?} is not a URL"))
        };
        let tries = crate::probe::as_metadata_urls(&u);
        let mut found = None;
        for t in &tries {
            if let Ok((200, _, doc)) = get_json(w, t).await {
                found = Some((t.clone(), doc));
                break;
            }
        }
        let Some((at, doc)) = found else {
            w.fail(&format!("no metadata for issuer {iss:?} at {tries:?}"))
        };
        let got = doc
            .get("issuer")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if got != iss {
            w.fail(&format!(
                "{at} says issuer {got:?}, not {iss:?} (RFC 8414 §3.3: must be identical)"
            ));
        }
    }
}

#[then("neither the metadata nor the challenge asks for offline_access")]
async fn no_offline_access(w: &mut AuthWorld) {
    let v = prm(w);
    let in_prm = v
        .get("scopes_supported")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|s| s == "offline_access"));
    let c = w.challenge();
    if in_prm || c.scopes().iter().any(|s| s == "offline_access") {
        w.fail("offline_access is advertised in scopes_supported or the challenge's scope (SHOULD NOT, 2026-07-28 §Refresh Tokens)");
    }
}

/// The server's origin (scheme, host, port) — 2025-03-26's authorization base URL.
fn origin_of(w: &AuthWorld) -> String {
    let url = &w.profile().server.url;
    url::Url::parse(url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_else(|_| w.fail(&format!("server.url {url:?} is not a URL")))
}

/// A client for the origin's endpoints: bounded by the run's timeouts, never following a
/// redirect.
fn origin_client(w: &AuthWorld) -> reqwest::Client {
    crate::http::client(&w.profile().timeouts)
}

#[when("the client fetches the authorization server metadata at the server's origin")]
async fn fetch_origin_as_metadata(w: &mut AuthWorld) {
    // 2025-03-26 §2.3.2: the authorization base URL is the MCP server URL without its path;
    // clients fetch RFC 8414 metadata there, with the revision in MCP-Protocol-Version.
    let url = format!("{}/.well-known/oauth-authorization-server", origin_of(w));
    let version = w.profile().server.protocol_version.clone();
    let req = origin_client(w)
        .get(&url)
        .header("MCP-Protocol-Version", version);
    let (status, body) = match crate::http::fetch(req, &w.profile().timeouts).await {
        Ok(r) => (r.status, r.text),
        Err(e) => (0, format!("no answer: {e}")),
    };
    w.origin_as = Some(OriginAnswer { url, status, body });
}

#[then(
    "it is authorization server metadata, or the origin serves the default authorization endpoints"
)]
async fn origin_as_metadata_or_defaults(w: &mut AuthWorld) {
    let (url, status, body) = match &w.origin_as {
        Some(a) => (a.url.clone(), Some(a.status), a.body.clone()),
        None => Default::default(),
    };
    if status == Some(200) {
        let doc: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let missing: Vec<&str> = ["issuer", "authorization_endpoint", "token_endpoint"]
            .into_iter()
            .filter(|k| doc.get(*k).and_then(Value::as_str).is_none())
            .collect();
        if missing.is_empty() {
            return;
        }
        w.fail(&format!(
            "{url} answered 200 but not RFC 8414 metadata: no {} (2025-03-26 §2.3.2)",
            missing.join(", ")
        ));
    }
    // 2025-03-26 §2.3.3: without metadata, clients use <origin>/authorize, /token, /register.
    let origin = origin_of(w);
    let http = origin_client(w);
    let t = w.profile().timeouts;
    let mut absent = Vec::new();
    for (method, path) in [
        (reqwest::Method::GET, "/authorize"),
        (reqwest::Method::POST, "/token"),
        (reqwest::Method::POST, "/register"),
    ] {
        let found =
            match crate::http::send(http.request(method, format!("{origin}{path}")), &t).await {
                Ok(r) => serves_endpoint(r.status().as_u16(), r.headers()),
                Err(_) => false,
            };
        if !found {
            absent.push(path);
        }
    }
    if !absent.is_empty() {
        let status = status.map(|s| s.to_string()).unwrap_or_default();
        w.fail(&format!(
            "{url} answered {status} (no authorization server metadata), and the default endpoints {} are not served at {origin} either (2025-03-26 §2.3.2–2.3.3: one or the other)",
            absent.join(", ")
        ));
    }
}

/// Whether an answer at one of 2025-03-26's default endpoints comes from an authorization
/// endpoint at all: not "no such path" (404, 405, 501) and not the resource server's own Bearer
/// challenge (a 401 with `WWW-Authenticate: Bearer`, which servers answer for every path they
/// protect). Anything else — a 400 for the missing parameters, a login page, a redirect, a 401
/// `invalid_client` with a Basic challenge — is an endpoint answering.
pub(crate) fn serves_endpoint(status: u16, headers: &reqwest::header::HeaderMap) -> bool {
    if matches!(status, 404 | 405 | 501) {
        return false;
    }
    if status == 401 {
        let bearer = headers
            .get_all(reqwest::header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.trim_start().to_ascii_lowercase().starts_with("bearer"));
        return !bearer;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::serves_endpoint;
    use reqwest::header::{HeaderMap, HeaderValue, WWW_AUTHENTICATE};

    fn challenge(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(WWW_AUTHENTICATE, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn missing_paths_and_bearer_challenges_are_not_endpoints() {
        assert!(!serves_endpoint(404, &HeaderMap::new()));
        assert!(!serves_endpoint(405, &HeaderMap::new()));
        assert!(!serves_endpoint(
            401,
            &challenge(
                r#"Bearer resource_metadata="http://x/.well-known/oauth-protected-resource""#
            )
        ));
    }

    #[test]
    fn authorization_endpoint_answers_are_endpoints() {
        assert!(serves_endpoint(400, &HeaderMap::new()));
        assert!(serves_endpoint(302, &HeaderMap::new()));
        assert!(serves_endpoint(200, &HeaderMap::new()));
        assert!(serves_endpoint(401, &challenge(r#"Basic realm="token""#)));
        assert!(serves_endpoint(401, &HeaderMap::new()));
    }
}

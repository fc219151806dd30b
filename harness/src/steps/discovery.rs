//! Steps of `discovery.feature`: protected resource metadata and the AS it names (checklist 1-12).

use cucumber::{given, then, when};
use serde_json::Value;

use crate::world::AuthWorld;

async fn get_json(url: &str) -> Result<(u16, String, Value), String> {
    let r = reqwest::Client::new()
        .get(url)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = r.text().await.unwrap_or_default();
    Ok((
        status,
        ct,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    ))
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
        if let Ok((200, ct, v)) = get_json(&u).await {
            w.saved.insert("prm_url".into(), u);
            w.saved.insert("prm_content_type".into(), ct);
            w.saved.insert("prm".into(), v.to_string());
            return;
        }
    }
    w.fail("no protected resource metadata found: neither the challenge's resource_metadata nor the well-known URLs answered 200");
}

fn prm(w: &AuthWorld) -> Value {
    w.saved
        .get("prm")
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or(Value::Null)
}

#[then("the resource_metadata URL serves the metadata as JSON")]
async fn rm_serves_json(w: &mut AuthWorld) {
    let c = w.challenge();
    let Some(u) = c.param("resource_metadata") else {
        w.fail("the challenge has no resource_metadata")
    };
    match get_json(u).await {
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
        if let Ok((200, _, v)) = get_json(u).await
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
        let origin = u.origin().ascii_serialization();
        let path = u.path().trim_end_matches('/');
        // MCP 2025-11-25 discovery order: RFC 8414 path-inserted, OIDC path-inserted, OIDC suffix.
        let tries = [
            format!("{origin}/.well-known/oauth-authorization-server{path}"),
            format!("{origin}/.well-known/openid-configuration{path}"),
            format!("{origin}{path}/.well-known/openid-configuration"),
        ];
        let mut found = None;
        for t in &tries {
            if let Ok((200, _, doc)) = get_json(t).await {
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

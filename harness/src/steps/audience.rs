//! Steps of `audience.feature`: the token's `aud` must name this server (checklist 24-29).
//!
//! Tokens whose audience is another resource are minted the way the authorization server would
//! issue them for that resource (mock-as's `resource` → `aud`, in the server entry's audience
//! shape: project id, client id, resource), so only the resource differs from a valid token.

use cucumber::given;
use serde_json::{Value, json};

use crate::profile::Profile;
use crate::world::AuthWorld;

/// The scopes of a valid token, as [`AuthWorld::mint`] grants them by default: every scope the
/// profile names, plus `outbound.token.fetch` when a tool exchanges the token for a connection.
pub(super) fn valid_scopes(p: &Profile) -> Vec<String> {
    let mut v = p.all_scopes();
    if p.tools.iter().any(|t| t.connection.is_some())
        && !v.iter().any(|s| s == "outbound.token.fetch")
    {
        v.push("outbound.token.fetch".into());
    }
    v
}

/// Mint a token for this scenario's user with exactly `scopes` (nothing added) for `resource`
/// (the `aud` the authorization server puts in), optionally with a mock-as flaw and extra claims
/// (merged last); it becomes the token the next request sends. [`AuthWorld::mint`] always names
/// the profile's resource (and, with default scopes, adds `outbound.token.fetch`), which audience
/// and step-up scenarios must control.
pub(super) async fn mint_exact(
    w: &mut AuthWorld,
    resource: &str,
    scopes: Vec<String>,
    flaw: Option<&str>,
    claims: Option<Value>,
    note: &str,
) -> String {
    let user = w.user().await;
    let req = w
        .mint_request(&user, scopes)
        .resource(resource)
        .claims(claims)
        .flaw(flaw);
    match w.ctx.mock.mint(&req).await {
        Ok(t) => {
            w.token = Some(t.clone());
            w.token_note = note.to_string();
            t
        }
        Err(e) => panic!("mock-as could not mint a token ({note}): {e}"),
    }
}

/// A valid token in every respect but its audience, which names `resource`.
async fn token_for_resource(w: &mut AuthWorld, resource: &str, note: &str) {
    let scopes = valid_scopes(w.profile());
    let note = format!("{note} (aud names {resource})");
    mint_exact(w, resource, scopes, None, None, &note).await;
}

/// A token for another resource, to be refused. With the server entry's own issuer, `aud` has
/// the entry's shape with `resource` in place of this server (so only the resource differs).
/// With a project-level issuer (Inbound App, project OIDC) every genuine token of the project
/// names the project id in `aud`, whichever app it was for, so a token *for another server* of
/// such a project is one whose `aud` names only that server: the project id is left out.
async fn token_for_other_resource(w: &mut AuthWorld, resource: &str, note: &str) {
    if !w.profile().mock_as.issuer.project_audience() {
        token_for_resource(w, resource, note).await;
        return;
    }
    let scopes = valid_scopes(w.profile());
    let note = format!("{note} (aud is only {resource}; the project id is left out)");
    mint_exact(
        w,
        resource,
        scopes,
        None,
        Some(json!({ "aud": [resource] })),
        &note,
    )
    .await;
}

/// Another MCP server's URL on this server's origin: same scheme, host and port, path
/// `/other/mcp` (RFC 8707 §2: the resource identifier includes the path).
fn sibling_on_same_origin(resource: &str) -> String {
    let Ok(u) = url::Url::parse(resource) else {
        panic!("the profile's resource {resource:?} is not a URL");
    };
    let path = if u.path().trim_end_matches('/') == "/other/mcp" {
        "/another/mcp"
    } else {
        "/other/mcp"
    };
    format!("{}{path}", u.origin().ascii_serialization())
}

/// The resource with its scheme and host in upper case (`HTTP://EXAMPLE.COM:8080/mcp`): the
/// same URI by RFC 3986 §6.2.2.1, which MCP's §Canonical Server URI says to accept.
fn uppercase_scheme_and_host(resource: &str) -> String {
    let Some((scheme, rest)) = resource.split_once("://") else {
        panic!("the profile's resource {resource:?} is not an absolute URL");
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    // Keep any userinfo as it is: only the host is case-insensitive.
    let (userinfo, host) = match authority.rsplit_once('@') {
        Some((u, h)) => (format!("{u}@"), h),
        None => (String::new(), authority),
    };
    format!(
        "{}://{userinfo}{}{tail}",
        scheme.to_ascii_uppercase(),
        host.to_ascii_uppercase()
    )
}

/// The resource with a trailing slash added (or, if it has one, removed).
fn trailing_slash_variant(resource: &str) -> String {
    match resource.strip_suffix('/') {
        Some(r) => r.to_string(),
        None => format!("{resource}/"),
    }
}

#[given("a token whose audience is another MCP server")]
async fn aud_other_server(w: &mut AuthWorld) {
    token_for_other_resource(
        w,
        "https://other.example/mcp",
        "a token issued for another MCP server",
    )
    .await;
}

#[given("a token without an audience")]
async fn aud_missing(w: &mut AuthWorld) {
    // A null claim makes the World ask mock-as to leave the claim out entirely.
    w.mint(
        None,
        None,
        Some(json!({"aud": null})),
        "a token without an aud claim",
    )
    .await;
}

#[given("a token whose audience is another MCP server on the same origin")]
async fn aud_same_origin_sibling(w: &mut AuthWorld) {
    let other = sibling_on_same_origin(w.profile().resource());
    token_for_other_resource(
        w,
        &other,
        "a token issued for another MCP server on the same origin",
    )
    .await;
}

#[given("a token whose audience lists another MCP server and this one")]
async fn aud_array_with_us(w: &mut AuthWorld) {
    let p = w.profile();
    let resource = p.resource().to_string();
    // With a project-level issuer the project id is part of every genuine token's `aud`.
    let aud = if p.mock_as.issuer.project_audience() {
        json!(["https://other.example/mcp", p.mock_as.project_id, resource])
    } else {
        json!(["https://other.example/mcp", resource])
    };
    let note = format!("a token whose aud is {aud}");
    w.mint(None, None, Some(json!({ "aud": aud })), &note).await;
}

#[given("a token whose audience is this server's URL with an uppercase scheme and host")]
async fn aud_uppercase(w: &mut AuthWorld) {
    let variant = uppercase_scheme_and_host(w.profile().resource());
    token_for_resource(
        w,
        &variant,
        "a token for this server's URL with an uppercase scheme and host",
    )
    .await;
}

#[given("a token whose audience is this server's URL with a trailing slash")]
async fn aud_trailing_slash(w: &mut AuthWorld) {
    let variant = trailing_slash_variant(w.profile().resource());
    token_for_resource(
        w,
        &variant,
        "a token for this server's URL with a trailing slash",
    )
    .await;
}

#[given("a token for this server signed by a key its authorization server does not publish")]
async fn forged_for_us(w: &mut AuthWorld) {
    // The right issuer, audience and kid; only the key is an outsider's (mock-as `foreign_key`).
    w.mint(
        None,
        Some("foreign_key"),
        None,
        "a token for this server signed by a key outside the JWKS",
    )
    .await;
}

#[given("a token for this server issued and signed by another authorization server")]
async fn other_as_for_us(w: &mut AuthWorld) {
    // What another authorization server would issue for this resource: its own issuer (the same
    // path on another origin) and its own key, with this server in `aud`.
    let issuer = w.profile().issuer();
    let path = url::Url::parse(&issuer)
        .map(|u| u.path().to_string())
        .unwrap_or_default();
    let other = format!("https://other-as.example{path}");
    let note = format!("a token for this server from issuer {other}, signed by that issuer's key");
    w.mint(
        None,
        Some("foreign_key"),
        Some(json!({ "iss": other })),
        &note,
    )
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_variants() {
        assert_eq!(
            uppercase_scheme_and_host("http://localhost:8001/mcp"),
            "HTTP://LOCALHOST:8001/mcp"
        );
        assert_eq!(
            uppercase_scheme_and_host("https://mcp.example.com"),
            "HTTPS://MCP.EXAMPLE.COM"
        );
        assert_eq!(
            trailing_slash_variant("http://127.0.0.1:8001/mcp"),
            "http://127.0.0.1:8001/mcp/"
        );
        assert_eq!(
            trailing_slash_variant("http://127.0.0.1:8001/mcp/"),
            "http://127.0.0.1:8001/mcp"
        );
        assert_eq!(
            sibling_on_same_origin("http://127.0.0.1:8001/mcp"),
            "http://127.0.0.1:8001/other/mcp"
        );
        assert_eq!(
            sibling_on_same_origin("https://x.example/other/mcp"),
            "https://x.example/another/mcp"
        );
    }
}

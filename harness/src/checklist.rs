//! The requirement tags every scenario carries: items 1-53 of the checklist in
//! shared/reference/mcp-server-auth.md §7 and Descope's connection model C1-C8 (README
//! "Reference server"). A test checks that each has at least one scenario.

/// Every requirement tag the feature files must cover.
pub fn all_requirements() -> Vec<String> {
    let mut v: Vec<String> = (1..=53).map(|n| format!("req-{n}")).collect();
    v.extend((1..=8).map(|n| format!("req-C{n}")));
    v
}

/// The requirement tags present in the feature files under `dir`, with their levels.
pub fn tags_in(dir: &std::path::Path) -> std::io::Result<Vec<(String, Vec<String>)>> {
    let mut out = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "feature"))
    {
        let text = std::fs::read_to_string(&p)?;
        let mut pending: Vec<String> = Vec::new();
        for line in text.lines().map(str::trim) {
            if line.starts_with('@') {
                pending.extend(
                    line.split_whitespace()
                        .map(|t| t.trim_start_matches('@').to_string()),
                );
            } else if line.starts_with("Scenario") {
                if let Some(req) = pending.iter().find(|t| t.starts_with("req-")) {
                    out.push((req.clone(), pending.clone()));
                }
                pending.clear();
            } else if !line.is_empty() && !line.starts_with('#') {
                pending.clear();
            }
        }
    }
    Ok(out)
}

/// What each checklist item asks of the server, one line (shared/reference/mcp-server-auth.md §7
/// in short; C1-C8 from the README's "Reference server"): the `shortDescription` of the item's
/// SARIF rule and the tooltip of the HTML report. A test checks every item has one.
pub const ITEM_TEXT: &[(&str, &str)] = &[
    (
        "req-1",
        "A request without credentials is refused with 401.",
    ),
    (
        "req-2",
        "The 401 carries a WWW-Authenticate challenge with the Bearer scheme.",
    ),
    (
        "req-3",
        "The challenge names the protected resource metadata (resource_metadata=\"<absolute URL>\").",
    ),
    (
        "req-4",
        "The resource_metadata URL serves the protected resource metadata as JSON (RFC 9728 §3.2).",
    ),
    (
        "req-5",
        "Without resource_metadata in the challenge, the metadata is at the resource's well-known URL.",
    ),
    (
        "req-6",
        "The metadata's resource is the server's canonical URI: absolute, no fragment (RFC 9728 §3.3).",
    ),
    (
        "req-7",
        "The metadata's authorization_servers is a non-empty array.",
    ),
    (
        "req-8",
        "Each authorization server's discovery metadata has exactly the advertised issuer.",
    ),
    (
        "req-9",
        "The 401 challenge says which scopes to ask for (scope=).",
    ),
    (
        "req-10",
        "Neither scopes_supported nor the challenge's scope asks for offline_access.",
    ),
    (
        "req-11",
        "A 401 to a request without credentials has no error= attribute (RFC 6750 §3.1).",
    ),
    (
        "req-12",
        "A 2025-03-26 server publishes authorization server metadata at its origin, or the default endpoints.",
    ),
    (
        "req-13",
        "A valid token (right issuer, audience, scope, expiry, known key) is accepted.",
    ),
    ("req-14", "A token with a tampered signature is refused."),
    (
        "req-15",
        "A token signed by a key outside the authorization server's JWKS is refused.",
    ),
    (
        "req-16",
        "An alg=none token, and an HS256 token keyed with the RSA public key, are refused.",
    ),
    (
        "req-17",
        "A token whose iss is not the advertised authorization server is refused.",
    ),
    (
        "req-18",
        "A non-Bearer scheme, an empty or a garbage bearer token is never served.",
    ),
    (
        "req-19",
        "An invalid-token 401 carries error=\"invalid_token\" and resource_metadata.",
    ),
    (
        "req-20",
        "A token given only in the query string does not authenticate.",
    ),
    (
        "req-21",
        "The auth scheme name is case-insensitive (RFC 7235 §2.1).",
    ),
    (
        "req-22",
        "Every HTTP request is authenticated, on an open session too (notifications, GET stream, DELETE).",
    ),
    (
        "req-23",
        "While the verifier's dependency (JWKS, introspection) is down, no request is served.",
    ),
    (
        "req-24",
        "A token whose audience is another resource is refused.",
    ),
    ("req-25", "A token without an audience is refused."),
    (
        "req-26",
        "A token for a sibling resource on the same origin is refused.",
    ),
    (
        "req-27",
        "A token whose audience array includes the server is accepted.",
    ),
    (
        "req-28",
        "An audience spelled with an uppercase scheme/host or a trailing slash is accepted.",
    ),
    (
        "req-29",
        "A token with the right audience from an untrusted issuer or key is refused.",
    ),
    (
        "req-30",
        "A call the token's scopes do not cover is answered with 403.",
    ),
    ("req-31", "That 403 carries error=\"insufficient_scope\"."),
    (
        "req-32",
        "That 403 names every scope the call needs, in one challenge.",
    ),
    ("req-33", "That 403 carries resource_metadata."),
    (
        "req-34",
        "After step-up to the challenged scopes, the call succeeds and earlier operations still work.",
    ),
    (
        "req-35",
        "A down-scoped token still works for what its scopes cover.",
    ),
    (
        "req-36",
        "A partial re-consent (fewer scopes than challenged) is refused again.",
    ),
    (
        "req-37",
        "A broader scope of a declared hierarchy satisfies a narrower requirement.",
    ),
    (
        "req-38",
        "Scope-protected tools are enforced when called directly, listed or not.",
    ),
    ("req-39", "An expired token is refused with 401."),
    ("req-40", "A token whose nbf is in the future is refused."),
    ("req-41", "A token without exp is refused."),
    (
        "req-42",
        "A session does not keep an expired token alive; a fresh token for the same user continues it.",
    ),
    (
        "req-43",
        "A token revoked at the authorization server is refused within the declared cache window.",
    ),
    (
        "req-44",
        "Rotated-in keys are accepted within the declared window; removed keys stop working by cache expiry.",
    ),
    (
        "req-45",
        "A session created by one user is not served to another user's token.",
    ),
    (
        "req-46",
        "Session ids are high-entropy, unique and non-sequential.",
    ),
    (
        "req-47",
        "A valid session id with no or an invalid token is refused (a session is not authentication).",
    ),
    (
        "req-48",
        "Stateless MCP: Mcp-Session-Id is ignored, never minted; every POST is authenticated.",
    ),
    (
        "req-49",
        "A request with an invalid Origin is refused with 403, even with a valid token.",
    ),
    (
        "req-50",
        "The metadata's resource and URLs use https unless the host is loopback.",
    ),
    ("req-51", "A token minted for a downstream API is refused."),
    (
        "req-52",
        "The upstream API never receives the client's MCP access token.",
    ),
    (
        "req-53",
        "An OAuth proxy asks the user before sending a new client upstream, and matches redirect URIs exactly.",
    ),
    (
        "req-C1",
        "An allowed connection works; the third-party API sees the connection token, not the MCP token.",
    ),
    (
        "req-C2",
        "A connection the policy denies asks the user to re-consent instead of failing the server.",
    ),
    (
        "req-C3",
        "A policy change applies to the very next call, both ways.",
    ),
    ("req-C4", "A revoked connection fails on the next call."),
    (
        "req-C5",
        "Re-consenting through the connect URL makes the next call succeed.",
    ),
    (
        "req-C6",
        "Connection-backed tools stop working once the user's MCP session is revoked at the authorization server.",
    ),
    (
        "req-C7",
        "A tenant-level connection is given to tenant members only.",
    ),
    (
        "req-C8",
        "A token without outbound.token.fetch does not get the connection.",
    ),
];

/// The one-line text of a requirement tag (`req-24`), if it is a checklist item.
pub fn item_text(req: &str) -> Option<&'static str> {
    ITEM_TEXT.iter().find(|(r, _)| *r == req).map(|(_, t)| *t)
}

//! The requirement tags every scenario carries: items 1-53 of the checklist (harness/REQUIREMENTS.md,
//! generated from here and the feature tags) and Descope's connection model C1-C10 (the reference
//! server's README). A test checks that each has at least one scenario.

/// Every requirement tag the feature files must cover.
pub fn all_requirements() -> Vec<String> {
    let mut v: Vec<String> = (1..=53).map(|n| format!("req-{n}")).collect();
    v.extend((1..=10).map(|n| format!("req-C{n}")));
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

/// What each checklist item asks of the server, one line (the MCP authorization spec's rules in
/// short; C1-C10 from the README's "Reference server"): the `shortDescription` of the item's
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
    (
        "req-C9",
        "A rate-limited connection fetch fails the tool cleanly (no server error) and never sends the MCP token upstream.",
    ),
    (
        "req-C10",
        "A rate-limited connection fetch's tool error tells the user when to retry.",
    ),
];

/// The one-line text of a requirement tag (`req-24`), if it is a checklist item.
pub fn item_text(req: &str) -> Option<&'static str> {
    ITEM_TEXT.iter().find(|(r, _)| *r == req).map(|(_, t)| *t)
}

/// The MCP authorization page of a revision.
fn mcp_auth(rev: &str, anchor: &str) -> String {
    let page = if rev == "2026-07-28" {
        "basic/authorization/index"
    } else {
        "basic/authorization"
    };
    format!("https://modelcontextprotocol.io/specification/{rev}/{page}#{anchor}")
}

/// An RFC section on rfc-editor.org.
fn rfc(n: u32, section: &str) -> String {
    format!("https://www.rfc-editor.org/rfc/rfc{n}#section-{section}")
}

/// The MCP security best practices page (2025-06-18).
fn sbp(anchor: &str) -> String {
    format!(
        "https://modelcontextprotocol.io/specification/2025-06-18/basic/security_best_practices#{anchor}"
    )
}

/// Where each checklist item comes from: (tag, the section's name, its URL). The MCP revision
/// named is the first that has the rule; Descope's connection items (C1–C10) come from Descope's
/// outbound-app model, described in the reference server's README.
pub fn spec_reference(req: &str) -> Option<(String, String)> {
    let a = |rev: &str, name: &str, anchor: &str| {
        Some((format!("MCP {rev} §{name}"), mcp_auth(rev, anchor)))
    };
    let r = |n: u32, s: &str| Some((format!("RFC {n} §{s}"), rfc(n, s)));
    let descope = || {
        Some((
            "Descope outbound apps and Connections Policies".to_string(),
            "../fixtures/reference-server/README.md".to_string(),
        ))
    };
    match req {
        "req-1" | "req-14" | "req-15" | "req-18" => a("2025-06-18", "Error Handling", "error-handling"),
        "req-2" | "req-7" => a("2025-06-18", "Authorization Server Location", "authorization-server-location"),
        "req-3" | "req-5" | "req-9" => a(
            "2025-11-25",
            "Protected Resource Metadata Discovery Requirements",
            "protected-resource-metadata-discovery-requirements",
        ),
        "req-4" => r(9728, "3.2"),
        "req-6" | "req-28" => a("2025-06-18", "Canonical Server URI", "canonical-server-uri"),
        "req-8" => a("2025-11-25", "Authorization Server Metadata Discovery", "authorization-server-metadata-discovery"),
        "req-10" => a("2026-07-28", "Refresh Tokens", "refresh-tokens"),
        "req-11" | "req-19" => r(6750, "3.1"),
        "req-12" => a("2025-03-26", "Server Metadata Discovery", "2-3-server-metadata-discovery"),
        "req-13" | "req-17" | "req-24" | "req-25" | "req-29" | "req-39" => {
            a("2025-06-18", "Token Handling", "token-handling")
        }
        "req-16" | "req-23" | "req-40" | "req-43" => Some((
            "OAuth 2.1 §5.2 (access token validation)".to_string(),
            "https://datatracker.ietf.org/doc/html/draft-ietf-oauth-v2-1#section-5.2".to_string(),
        )),
        "req-20" | "req-22" => a("2025-06-18", "Token Requirements", "token-requirements"),
        "req-21" => Some(("RFC 7235 §2.1".to_string(), rfc(7235, "2.1"))),
        "req-26" => r(8707, "2"),
        "req-27" => r(7519, "4.1.3"),
        "req-30" | "req-31" | "req-32" | "req-33" | "req-34" | "req-35" | "req-36" => a(
            "2025-11-25",
            "Runtime Insufficient Scope Errors",
            "runtime-insufficient-scope-errors",
        ),
        "req-37" => a("2026-07-28", "Scope Challenge Handling", "scope-challenge-handling"),
        "req-38" | "req-51" | "req-52" => a(
            "2025-06-18",
            "Access Token Privilege Restriction",
            "access-token-privilege-restriction",
        ),
        "req-41" | "req-44" => a("2025-03-26", "Security Considerations", "2-7-security-considerations"),
        "req-42" | "req-45" | "req-46" | "req-47" => Some((
            "MCP security best practices §Session Hijacking".to_string(),
            sbp("session-hijacking"),
        )),
        "req-48" => Some((
            "MCP 2026-07-28 Streamable HTTP §Backward Compatibility".to_string(),
            "https://modelcontextprotocol.io/specification/2026-07-28/basic/transports/streamable-http#backward-compatibility".to_string(),
        )),
        "req-49" => Some((
            "MCP 2025-06-18 Streamable HTTP §Security Warning".to_string(),
            "https://modelcontextprotocol.io/specification/2025-06-18/basic/transports#security-warning".to_string(),
        )),
        "req-50" => a("2025-06-18", "Communication Security", "communication-security"),
        "req-53" => Some((
            "MCP security best practices §Confused Deputy Problem".to_string(),
            sbp("confused-deputy-problem"),
        )),
        r if r.starts_with("req-C") => descope(),
        _ => None,
    }
}

/// `harness/REQUIREMENTS.md`: one line per checklist item — its text, level, the revisions it
/// applies to (from the scenarios' tags under `features`) and the spec section as a link. A test
/// keeps the committed file equal to this.
pub fn requirements_markdown(features: &std::path::Path) -> std::io::Result<String> {
    let tags = tags_in(features)?;
    let mut out = String::from(
        "# The requirements the suite checks\n\n\
         One line per item of the checklist: what an MCP server must do, how strongly (the level\n\
         the scenarios carry: a MUST failure fails the run, a SHOULD failure is a warning), the\n\
         MCP revisions it applies to, and where the rule comes from. Scenarios carry the item as\n\
         a tag (`@req-24`); reports, SARIF rules and the HTML report use the same numbers.\n\
         Items 1–53 come from the MCP authorization specification and its security best\n\
         practices; C1–C10 from Descope's connection model (outbound apps, Connections Policies).\n\n\
         This file is generated from `harness/src/checklist.rs` and `features/*.feature`;\n\
         `MCP_AUTHCHECK_WRITE_DOCS=1 cargo test -p harness --test docs` rewrites it.\n\n\
         | item | level | revisions | the server | from |\n|---|---|---|---|---|\n",
    );
    for req in all_requirements() {
        let of: Vec<&Vec<String>> = tags
            .iter()
            .filter(|(r, _)| *r == req)
            .map(|(_, t)| t)
            .collect();
        let mut levels: Vec<String> = of
            .iter()
            .flat_map(|t| t.iter())
            .filter(|t| matches!(t.as_str(), "must" | "should" | "may"))
            .map(|t| t.to_uppercase())
            .collect();
        levels.sort();
        levels.dedup();
        let since = of
            .iter()
            .flat_map(|t| t.iter())
            .filter_map(|t| t.strip_prefix("since-"))
            .min()
            .unwrap_or("2025-03-26");
        let until = of
            .iter()
            .filter_map(|t| t.iter().find_map(|x| x.strip_prefix("until-")))
            .max();
        let every_until = of.iter().all(|t| t.iter().any(|x| x.starts_with("until-")));
        let revisions = match until.filter(|_| every_until) {
            Some(u) if u == since => u.to_string(),
            Some(u) => format!("{since} – {u}"),
            None => format!("{since} →"),
        };
        let (name, url) = spec_reference(&req).unwrap_or_default();
        out.push_str(&format!(
            "| {} | {} | {} | {} | [{}]({}) |\n",
            req.trim_start_matches("req-"),
            levels.join(", "),
            revisions,
            item_text(&req)
                .unwrap_or_default()
                .replace('|', "\\|")
                .replace('<', "&lt;")
                .replace('>', "&gt;"),
            name,
            url
        ));
    }
    Ok(out)
}

//! Interactive consent (`--consent interactive`): `/authorize` answers an HTML page instead of
//! redirecting at once, and the page's form (`POST /oauth2/v1/consent`) finishes the flow.
//!
//! RFC 6749 §4.1.1 leaves to the authorization server how it "obtains an authorization
//! decision"; Descope runs a consent flow that lists the requested scopes (its "Inbound App
//! Scopes" component) and records the user's consent. Here the person picks the user (no
//! passwords: this is a mock), optionally a tenant, unticks scopes, sees which scopes the
//! server's MCP Server Policy would drop for that user and why, and approves or denies.
//!
//! - **No JavaScript**: a plain form POST; "Check" re-renders the page for another user.
//! - **CSRF** (RFC 6749 §10.12): each rendered page carries a random token bound to its one
//!   pending authorization request; the first POST naming the request consumes it, whatever
//!   it says, so a token works once and a forged or replayed form gets `400 invalid_request`.
//! - **Escaping**: every value from configuration or the request goes through [`esc`].
//! - Approve redirects with `code`, `state`, `iss` (RFC 9207) exactly as headless consent does;
//!   Deny redirects with `error=access_denied` (RFC 6749 §4.1.2.1).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use crate::config::{OUTBOUND_SCOPE, User};
use crate::error::OAuthError;
use crate::parse::Params;
use crate::routes::authorize::{
    Back, CodeRequest, Consent, Flow, consent, consent_rules, issue_code, scope_verdicts,
};
use crate::routes::client_auth::read_params;
use crate::state::AppState;
use crate::store::PendingConsent;
use crate::tokens::random_id;
use crate::ui::{esc, form_csp, html, page};

/// How long a consent page stays valid, seconds.
pub const CONSENT_TTL: i64 = 600;

/// The path the consent form posts to (the router names it literally: the fuzz table scans it).
pub const CONSENT_PATH: &str = "/oauth2/v1/consent";

/// Phase 4 in interactive mode: park the checked request and answer the consent page.
/// `prompt=none` cannot show a page, so it is refused with `consent_required` (OIDC Core
/// §3.1.2.6) rather than silently consenting.
pub(crate) fn start(
    st: &AppState,
    flow: &Flow,
    client_id: &str,
    back: &Back<'_>,
    p: &Params,
    req: CodeRequest<'_>,
) -> Response {
    if p.get("prompt")
        .is_some_and(|v| v.split(' ').any(|x| x == "none"))
    {
        return back.fail(
            "consent_required",
            "prompt=none, but this mock-as runs interactive consent: a person must approve on the consent page".into(),
        );
    }
    let hint = p
        .get("login_hint")
        .or(p.get("loginHint"))
        .map(str::to_string);
    let mut error = None;
    let user = match &hint {
        Some(h) => match st.store().find_user(h) {
            Some(u) => Some(u.id.clone()),
            None => {
                error = Some(format!(
                    "login_hint {h:?} names no configured user: choose one below"
                ));
                None
            }
        },
        None => st.config.project.default_user.clone(),
    };
    let pending = PendingConsent {
        csrf: String::new(),
        server_id: flow.sid.clone(),
        issuer_style: flow.style,
        client_id: client_id.to_string(),
        redirect_uri: back.redirect_uri.to_string(),
        state: back.state.map(str::to_string),
        challenge: req.challenge.to_string(),
        requested: req.requested,
        resources: req.resources,
        user,
        tenant: p.get("tenant").map(str::to_string),
        expires_at: st.now() + CONSENT_TTL,
    };
    render(st, pending, error.as_deref())
}

/// Store `pending` under a fresh request id with a fresh CSRF token and answer its page.
fn render(st: &AppState, mut pending: PendingConsent, error: Option<&str>) -> Response {
    let id = random_id();
    pending.csrf = random_id();
    let body = consent_body(st, &id, &pending, error);
    let origin = url::Url::parse(&pending.redirect_uri)
        .map(|u| u.origin().ascii_serialization())
        .ok();
    let client = client_name(st, &pending.client_id);
    st.store().put_pending_consent(id, pending);
    html(
        page(&format!("Authorize {client}"), &body, ""),
        &form_csp(origin.as_deref()),
    )
}

fn client_name(st: &AppState, client_id: &str) -> String {
    st.store()
        .client(client_id)
        .map(|c| c.cfg.name.clone())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| client_id.to_string())
}

/// What a standard scope means, for scopes no server defines.
fn standard_description(scope: &str) -> &'static str {
    match scope {
        "openid" => "Sign you in (OpenID Connect)",
        "profile" => "Your name",
        "email" => "Your email address",
        "offline_access" => "Stay signed in (refresh tokens)",
        OUTBOUND_SCOPE => "Fetch your connected third-party tokens (Descope outbound apps)",
        _ => "",
    }
}

fn consent_body(st: &AppState, id: &str, p: &PendingConsent, error: Option<&str>) -> String {
    let server = st.server(&p.server_id);
    let (server_name, server_url) = server
        .as_ref()
        .map(|s| (s.name.clone(), s.url.clone()))
        .unwrap_or_else(|| (p.server_id.clone(), String::new()));
    let users: Vec<User> = st.store().users().cloned().collect();
    let chosen = p
        .user
        .as_deref()
        .and_then(|u| users.iter().find(|x| x.id == u))
        .or(users.first());
    let client = client_name(st, &p.client_id);
    let mut b = String::new();
    b.push_str(&format!(
        "<h1 id=\"heading\"><span id=\"client-name\">{}</span> wants to use <span id=\"server-name\">{}</span></h1>\n",
        esc(&client),
        esc(&server_name)
    ));
    b.push_str(&format!(
        "<p class=\"muted\">client <code id=\"client-id\">{}</code> · MCP server <code>{}</code> <code>{}</code><br>after your decision you go back to <code id=\"redirect-uri\">{}</code></p>\n",
        esc(&p.client_id),
        esc(&p.server_id),
        esc(&server_url),
        esc(&p.redirect_uri)
    ));
    if let Some(e) = error {
        b.push_str(&format!(
            "<p class=\"error\" id=\"error\" role=\"alert\">{}</p>\n",
            esc(e)
        ));
    }
    b.push_str(&format!(
        "<form method=\"post\" action=\"{}\" id=\"consent\">\n<input type=\"hidden\" name=\"request\" value=\"{}\">\n<input type=\"hidden\" name=\"csrf\" value=\"{}\">\n",
        esc(&format!("{}{CONSENT_PATH}", st.base_url)),
        esc(id),
        esc(&p.csrf)
    ));
    // Who consents.
    b.push_str("<div class=\"card\"><h2>Sign in as</h2>\n<label for=\"user\">user</label><select name=\"user\" id=\"user\">\n");
    for u in &users {
        let sel = if chosen.is_some_and(|c| c.id == u.id) {
            " selected"
        } else {
            ""
        };
        let roles = if u.roles.is_empty() {
            "no roles".to_string()
        } else {
            format!("roles {}", u.roles.join(", "))
        };
        b.push_str(&format!(
            "<option value=\"{}\"{sel}>{} — {} ({}; {})</option>\n",
            esc(&u.id),
            esc(if u.name.is_empty() { &u.id } else { &u.name }),
            esc(&u.login_id),
            esc(&u.id),
            esc(&roles)
        ));
    }
    b.push_str("</select>\n");
    if !st.config.tenants.is_empty() {
        b.push_str("<label for=\"tenant\">tenant</label><select name=\"tenant\" id=\"tenant\">\n<option value=\"\">(none)</option>\n");
        for t in &st.config.tenants {
            let sel = if p.tenant.as_deref() == Some(t.id.as_str()) {
                " selected"
            } else {
                ""
            };
            b.push_str(&format!(
                "<option value=\"{}\"{sel}>{} ({})</option>\n",
                esc(&t.id),
                esc(if t.name.is_empty() { &t.id } else { &t.name }),
                esc(&t.id)
            ));
        }
        b.push_str("</select>\n");
    }
    b.push_str("<button type=\"submit\" name=\"action\" value=\"check\" id=\"check\">Check this user</button></div>\n");
    // What is asked, and what the policy says for the chosen user.
    b.push_str("<div class=\"card\"><h2>Requested scopes</h2>\n");
    match chosen {
        Some(u) => {
            let tenant = p
                .tenant
                .as_deref()
                .filter(|t| u.tenants.iter().any(|m| m.id == *t));
            b.push_str(&format!(
                "<p class=\"muted\" id=\"verdict-for\">The MCP Server Policy's verdict for <code>{}</code>{} (choose another user and press <em>Check this user</em> to see theirs). Untick what you do not want to grant.</p>\n",
                esc(&u.id),
                tenant
                    .map(|t| format!(" in tenant <code>{}</code>", esc(t)))
                    .unwrap_or_default()
            ));
            b.push_str("<table id=\"scopes\"><tr><th></th><th>scope</th><th>description</th><th>policy</th></tr>\n");
            for (scope, allowed, why) in scope_verdicts(
                &consent_rules(st, &p.server_id),
                u,
                &p.client_id,
                tenant,
                &p.requested,
            ) {
                let description = server
                    .as_ref()
                    .and_then(|s| s.scopes.iter().find(|d| d.name == scope))
                    .map(|d| d.description.clone())
                    .filter(|d| !d.is_empty())
                    .unwrap_or_else(|| standard_description(&scope).to_string());
                let (class, input, verdict) = if allowed {
                    (
                        "granted",
                        format!(
                            "<input type=\"checkbox\" name=\"scope\" value=\"{}\" checked aria-label=\"grant {}\">",
                            esc(&scope),
                            esc(&scope)
                        ),
                        format!("granted ({})", esc(&why)),
                    )
                } else {
                    (
                        "dropped",
                        "<input type=\"checkbox\" disabled aria-label=\"dropped\">".to_string(),
                        format!("dropped: {}", esc(&why)),
                    )
                };
                b.push_str(&format!(
                    "<tr class=\"{class}\" data-scope=\"{}\"><td>{input}</td><td><code>{}</code></td><td class=\"description\">{}</td><td class=\"verdict\">{verdict}</td></tr>\n",
                    esc(&scope),
                    esc(&scope),
                    esc(&description)
                ));
            }
            b.push_str("</table>\n");
        }
        None => b.push_str("<p class=\"error\">No users are configured: nobody can consent.</p>\n"),
    }
    b.push_str("</div>\n<div class=\"actions\"><button type=\"submit\" name=\"action\" value=\"approve\" class=\"primary\" id=\"approve\">Approve</button><button type=\"submit\" name=\"action\" value=\"deny\" class=\"danger\" id=\"deny\">Deny</button></div>\n</form>\n");
    b
}

/// `POST /oauth2/v1/consent`: the consent form. `request` and `csrf` must name a pending
/// request and its token (else `400 invalid_request`, nothing redirected: nothing of the
/// request is trusted); `action` is `approve`, `deny` or `check`.
pub async fn submit(State(st): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let p = match read_params(&headers, &body, &["scope"]) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let (Some(id), Some(csrf)) = (p.get("request"), p.get("csrf")) else {
        return OAuthError::invalid_request(
            "request and csrf are required (post the consent page's form)",
        )
        .into_response();
    };
    // Single use: whatever this POST says, the pending request is gone after it.
    let pending = st.store().take_pending_consent(id);
    let Some(mut pending) = pending.filter(|x| x.expires_at >= st.now()) else {
        return OAuthError::invalid_request(
            "unknown, used or expired consent request: start again from the client",
        )
        .into_response();
    };
    if !constant_time_eq(pending.csrf.as_bytes(), csrf.as_bytes()) {
        return OAuthError::invalid_request(
            "the consent form's csrf token does not belong to its authorization request; the request is discarded",
        )
        .into_response();
    }
    let Some(server) = st.server(&pending.server_id) else {
        return OAuthError::invalid_request(format!(
            "MCP server {:?} no longer exists",
            pending.server_id
        ))
        .into_response();
    };
    let flow = Flow {
        sid: pending.server_id.clone(),
        style: pending.issuer_style,
        server,
    };
    let issuer = st.issuer_of(flow.style, &flow.sid);
    let action = p.get("action").unwrap_or_default();
    if action == "deny" {
        let back = Back {
            redirect_uri: &pending.redirect_uri,
            state: pending.state.as_deref(),
            issuer,
        };
        return back.fail("access_denied", "the user denied the request".into());
    }
    if action != "approve" && action != "check" {
        return OAuthError::invalid_request(format!(
            "action must be approve, deny or check (got {action:?})"
        ))
        .into_response();
    }
    let tenant = p
        .get("tenant")
        .filter(|t| !t.is_empty())
        .map(str::to_string);
    let user = p.get("user").and_then(|u| st.store().find_user(u).cloned());
    let problem = match (&user, &tenant) {
        (None, _) => Some(format!(
            "no user {:?}: choose one of the list",
            p.get("user").unwrap_or_default()
        )),
        (Some(u), Some(t)) if !u.tenants.iter().any(|m| &m.id == t) => Some(format!(
            "user {:?} is not a member of tenant {t:?}: choose another tenant or none",
            u.id
        )),
        _ => None,
    };
    let redo = |mut pending: PendingConsent, error: Option<&str>| {
        pending.user = p.get("user").map(str::to_string);
        pending.tenant = tenant.clone();
        pending.expires_at = st.now() + CONSENT_TTL;
        render(&st, pending, error)
    };
    if let Some(e) = problem {
        return redo(pending, Some(&e));
    }
    let Some(user) = user else {
        return redo(pending, Some("choose a user"));
    };
    if action == "check" {
        return redo(pending, None);
    }
    // Approve: what was ticked, of what was asked, then the policy (as headless consent).
    let ticked = p.all("scope");
    let wanted: Vec<String> = pending
        .requested
        .iter()
        .filter(|s| ticked.contains(s))
        .cloned()
        .collect();
    let rules = consent_rules(&st, &flow.sid);
    let granted = consent(
        &rules,
        &user,
        &pending.client_id,
        tenant.as_deref(),
        &wanted,
    );
    let client_id = std::mem::take(&mut pending.client_id);
    let back = Back {
        redirect_uri: &pending.redirect_uri,
        state: pending.state.as_deref(),
        issuer,
    };
    let req = CodeRequest {
        challenge: &pending.challenge,
        requested: wanted,
        resources: pending.resources.clone(),
    };
    issue_code(
        &st,
        &flow,
        &client_id,
        &back,
        req,
        Consent {
            user,
            tenant,
            granted,
        },
    )
}

/// Compare secrets without an early exit on the first differing byte.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

//! The vocabulary every feature shares: which token the client holds, what it sends, and how
//! the server answers.

use cucumber::{given, then, when};

use crate::mcp_client::Auth;
use crate::world::AuthWorld;

/// Phrases for mock-as's hostile-token flaws (README "Flaws").
const FLAWS: &[(&str, &str)] = &[
    ("an expired token", "expired"),
    ("a token whose nbf is in the future", "nbf_future"),
    ("a token without exp", "no_exp"),
    ("a token from another issuer", "wrong_iss"),
    ("a token for another resource", "wrong_aud"),
    (
        "a token issued for a sibling MCP server in the same project",
        "sibling_aud",
    ),
    ("an unsigned token with alg none", "alg_none"),
    (
        "an HS256 token keyed with the authorization server's public key",
        "hs256_public_key",
    ),
    (
        "a token signed under a kid that is in no JWKS",
        "unknown_kid",
    ),
    (
        "a token signed by a key that is not in the JWKS",
        "foreign_key",
    ),
    ("a token with a tampered signature", "tampered_signature"),
    ("a token without any scope of the server", "missing_scope"),
];

#[given("a valid token")]
async fn valid_token(w: &mut AuthWorld) {
    w.valid_token().await;
}

#[given("a token with only the required scopes")]
async fn minimal_token(w: &mut AuthWorld) {
    w.minimal_token().await;
}

#[given("no token")]
async fn no_token(w: &mut AuthWorld) {
    w.token = None;
    w.token_note = "no credentials".into();
}

/// A hostile-token phrase of the feature files (`Given an expired token`) and the mock-as flaw
/// it mints: a cucumber parameter, so a phrase that is not in [`FLAWS`] matches no step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, cucumber::Parameter)]
#[param(
    name = "flawed_token",
    regex = "an expired token|a token whose nbf is in the future|a token without exp|a token from another issuer|a token for another resource|a token issued for a sibling MCP server in the same project|an unsigned token with alg none|an HS256 token keyed with the authorization server's public key|a token signed under a kid that is in no JWKS|a token signed by a key that is not in the JWKS|a token with a tampered signature|a token without any scope of the server"
)]
pub(crate) struct FlawedToken {
    /// The phrase, for reports.
    phrase: &'static str,
    /// mock-as's flaw name (`POST /_mock/tokens` `flaw`).
    flaw: &'static str,
}

impl std::str::FromStr for FlawedToken {
    type Err = String;
    fn from_str(s: &str) -> Result<FlawedToken, String> {
        FLAWS
            .iter()
            .find(|(p, _)| *p == s)
            .map(|&(phrase, flaw)| FlawedToken { phrase, flaw })
            .ok_or_else(|| {
                format!(
                    "unknown token phrase {s:?} (known: {})",
                    FLAWS.iter().map(|(p, _)| *p).collect::<Vec<_>>().join("; ")
                )
            })
    }
}

#[given(expr = "{flawed_token}")]
async fn flawed_token(w: &mut AuthWorld, t: FlawedToken) {
    w.mint(None, Some(t.flaw), None, t.phrase).await;
}

#[when("the client sends an initialize request")]
async fn send_initialize(w: &mut AuthWorld) {
    w.initialize().await;
}

#[when("the client lists the tools")]
async fn list_tools(w: &mut AuthWorld) {
    w.list_tools().await;
}

#[when(expr = "the client calls {string}")]
async fn call_named(w: &mut AuthWorld, tool: String) {
    w.call_tool(&tool).await;
}

#[when("the client sends the token in the query string instead of the header")]
async fn token_in_query(w: &mut AuthWorld) {
    let t = w.token.clone().unwrap_or_default();
    w.auth_override = Some(Auth::Query(t));
    w.token_note = format!("{} in ?access_token=", w.token_note);
    w.initialize().await;
}

#[when(expr = "the client sends it with the scheme written {string}")]
async fn scheme_spelling(w: &mut AuthWorld, scheme: String) {
    let t = w.token.clone().unwrap_or_default();
    w.auth_override = Some(Auth::Header(format!("{scheme} {t}")));
    w.token_note = format!("{} with scheme {scheme:?}", w.token_note);
    w.initialize().await;
}

#[when(expr = "the client sends the Authorization header {string}")]
async fn raw_header(w: &mut AuthWorld, header: String) {
    w.auth_override = Some(Auth::Header(header.clone()));
    w.token_note = format!("Authorization: {header:?}");
    w.initialize().await;
}

#[then("the server accepts it")]
async fn accepted(w: &mut AuthWorld) {
    let e = w.last();
    if !(200..300).contains(&e.status) {
        w.fail(&format!(
            "expected the server to accept the request (2xx), got {}",
            e.status
        ));
    }
    if let Some(err) = e.rpc_error() {
        w.fail(&format!(
            "the server answered 2xx but with a JSON-RPC error: {err}"
        ));
    }
}

#[then("the server rejects it with 401")]
async fn rejected_401(w: &mut AuthWorld) {
    w.expect_rejected(false);
}

#[then("the server rejects it with 401 or 400")]
async fn rejected_401_or_400(w: &mut AuthWorld) {
    w.expect_rejected(true);
}

#[then("the server rejects it with 401 and a Bearer challenge")]
async fn rejected_with_challenge(w: &mut AuthWorld) {
    w.expect_rejected(false);
    w.challenge();
}

#[then("the server does not serve it")]
async fn not_served(w: &mut AuthWorld) {
    let s = w.last().status;
    if (200..300).contains(&s) || s == 0 {
        w.fail(&format!("expected a refusal (401 or 5xx), got {s}"));
    }
}

#[then("the challenge points to the protected resource metadata")]
async fn challenge_has_resource_metadata(w: &mut AuthWorld) {
    let c = w.challenge();
    match c.param("resource_metadata") {
        Some(u) if url::Url::parse(u).is_ok() => {}
        Some(u) => w.fail(&format!("resource_metadata {u:?} is not an absolute URL")),
        None => w.fail("the Bearer challenge has no resource_metadata parameter"),
    }
}

#[then(expr = "the challenge says error={string}")]
async fn challenge_error(w: &mut AuthWorld, error: String) {
    let c = w.challenge();
    if c.param("error") != Some(error.as_str()) {
        w.fail(&format!(
            "expected error=\"{error}\" in the challenge, found {:?}",
            c.param("error")
        ));
    }
}

#[then("the challenge has no error attribute")]
async fn challenge_no_error(w: &mut AuthWorld) {
    let c = w.challenge();
    if let Some(e) = c.param("error") {
        w.fail(&format!("a request without credentials should get a challenge without error= (RFC 6750 §3.1), found error=\"{e}\""));
    }
}

#[then("the challenge names the scopes to request")]
async fn challenge_scope(w: &mut AuthWorld) {
    let c = w.challenge();
    if c.scopes().is_empty() {
        w.fail("the Bearer challenge has no scope parameter");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_flaw_phrase_is_a_parameter_and_nothing_else_is() {
        let alternatives: Vec<&str> = <FlawedToken as cucumber::Parameter>::REGEX
            .split('|')
            .collect();
        let phrases: Vec<&str> = FLAWS.iter().map(|(p, _)| *p).collect();
        assert_eq!(
            alternatives, phrases,
            "the parameter's regex and FLAWS differ"
        );
        for (phrase, flaw) in FLAWS {
            let t: FlawedToken = phrase.parse().unwrap();
            assert_eq!((t.phrase, t.flaw), (*phrase, *flaw));
        }
        assert!("a token that is fine".parse::<FlawedToken>().is_err());
    }
}

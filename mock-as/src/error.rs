//! The two error shapes `mock-as` answers with, and the rule that picks one by path.
//!
//! - `/oauth2/...` (and the RFC 7591 registration endpoint): RFC 6749 §5.2 `{error, error_description}`.
//! - `/v1/...`, `/v2/...` and `.well-known` documents: Descope's `{errorCode, errorDescription,
//!   errorMessage}` (mock-as/DESCOPE.md §7.5).
//! - `/_mock/...`, the spy upstream `/_upstream/...` (even below a `.well-known` segment) and
//!   everything else: a plain `{error, message}` JSON object.
//!
//! Every error is JSON, because Descope's Node SDK parses every response body (mock-as/DESCOPE.md §7.5).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

pub use crate::protocol::ErrorCode;

/// What the journal records as a request's outcome: the error code, set as a response extension.
#[derive(Debug, Clone)]
pub struct OutcomeCode(pub String);

/// A handler's note for the journal's `detail` (policy decisions), set as a response extension.
#[derive(Debug, Clone)]
pub struct JournalDetail(pub String);

/// An RFC 6749 §5.2 / RFC 7591 §3.2.2 error response.
#[derive(Debug, Clone)]
pub struct OAuthError {
    /// HTTP status: 400 for most, 401 for `invalid_client` with failed authentication.
    pub status: StatusCode,
    /// The RFC error code.
    pub error: ErrorCode,
    /// A human sentence naming the field or rule at fault.
    pub description: String,
    /// `WWW-Authenticate` for 401 answers to HTTP Basic authentication (RFC 6749 §5.2).
    pub www_authenticate: Option<String>,
    /// For the journal's `detail`: the policy rule that refused, say. Not in the body.
    pub detail: Option<String>,
}

impl OAuthError {
    /// A 400 with the given code.
    pub fn new(error: ErrorCode, description: impl Into<String>) -> Self {
        OAuthError {
            status: StatusCode::BAD_REQUEST,
            error,
            description: description.into(),
            www_authenticate: None,
            detail: None,
        }
    }
    /// RFC 6749 §5.2 `invalid_request`.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }
    /// RFC 6749 §5.2 `invalid_grant`.
    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidGrant, description)
    }
    /// RFC 6749 §5.2 `invalid_scope`.
    pub fn invalid_scope(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidScope, description)
    }
    /// RFC 6749 §5.2 `invalid_client`: 401, with a Basic challenge when the client tried Basic.
    pub fn invalid_client(description: impl Into<String>, basic: bool) -> Self {
        OAuthError {
            status: StatusCode::UNAUTHORIZED,
            error: ErrorCode::InvalidClient,
            description: description.into(),
            www_authenticate: basic.then(|| "Basic realm=\"mock-as\"".to_string()),
            detail: None,
        }
    }
    /// The RFC 6749 §5.2 body: `{"error", "error_description"}`.
    pub fn body(&self) -> serde_json::Value {
        json!({"error": self.error.as_str(), "error_description": self.description})
    }
    /// Note why, for the journal's `detail`.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
    /// Replace the status.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let mut resp = (self.status, no_store(), axum::Json(self.body())).into_response();
        if let Some(ch) = self
            .www_authenticate
            .and_then(|c| HeaderValue::from_str(&c).ok())
        {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, ch);
        }
        resp.extensions_mut()
            .insert(OutcomeCode(self.error.as_str().to_string()));
        if let Some(d) = self.detail {
            resp.extensions_mut().insert(JournalDetail(d));
        }
        resp
    }
}

/// Descope's management-API error (mock-as/DESCOPE.md §7.5). Codes used by `mock-as` are listed in
/// README "Error codes"; the E011xxx ones are Descope's own (node-sdk `lib/errors.ts`).
#[derive(Debug, Clone)]
pub struct DescopeError {
    /// HTTP status (4xx for anything the client did).
    pub status: StatusCode,
    /// `errorCode`, e.g. `E011002`.
    pub code: &'static str,
    /// `errorDescription`: the class of error.
    pub description: String,
    /// `errorMessage`: the detail naming the field or rule.
    pub message: String,
}

/// Descope's own codes, and the ones `mock-as` chose where Descope's are unknown (mock-as/DESCOPE.md §13).
pub mod codes {
    /// Descope `badRequest`.
    pub const BAD_REQUEST: &str = "E011001";
    /// Descope `missingArguments`.
    pub const MISSING_ARGUMENTS: &str = "E011002";
    /// Descope `invalidRequest`.
    pub const INVALID_REQUEST: &str = "E011003";
    /// Descope `invalidArguments`.
    pub const INVALID_ARGUMENTS: &str = "E011004";
    /// Descope `userNotFound`.
    pub const USER_NOT_FOUND: &str = "E062108";
    /// mock-as choice: missing or unusable credentials.
    pub const UNAUTHORIZED: &str = "E061001";
    /// mock-as choice: authenticated but not allowed.
    pub const FORBIDDEN: &str = "E061002";
    /// mock-as choice: the path or object does not exist.
    pub const NOT_FOUND: &str = "E011404";
    /// mock-as choice: a fault armed through the control API.
    pub const INJECTED_FAULT: &str = "E099001";
    /// mock-as choice: the bearer access token has expired (401).
    pub const TOKEN_EXPIRED: &str = "E061003";
    /// mock-as choice: the bearer access token or its session was revoked (401).
    pub const TOKEN_REVOKED: &str = "E061004";
    /// mock-as choice: the access token lacks `outbound.token.fetch` (403).
    pub const MISSING_OUTBOUND_SCOPE: &str = "E063001";
    /// mock-as choice: the Connections Policy denied the fetch (403).
    pub const POLICY_DENIED: &str = "E063002";
    /// mock-as choice: the body's `userId` is not the access token's `sub` (403).
    pub const USER_MISMATCH: &str = "E063003";
    /// mock-as choice: no stored connection token (404).
    pub const NO_STORED_TOKEN: &str = "E063004";
    /// mock-as choice: the stored token lacks requested scopes (404).
    pub const SCOPES_NOT_GRANTED: &str = "E063005";
    /// mock-as choice: unknown outbound app (404).
    pub const UNKNOWN_APP: &str = "E063006";
    /// mock-as choice: the caller is not a member of the tenant (403).
    pub const NOT_TENANT_MEMBER: &str = "E063007";
    /// mock-as choice: unknown tenant (404).
    pub const UNKNOWN_TENANT: &str = "E063008";
}

impl DescopeError {
    /// Build an error with all fields.
    pub fn new(
        status: StatusCode,
        code: &'static str,
        description: &str,
        message: impl Into<String>,
    ) -> Self {
        DescopeError {
            status,
            code,
            description: description.to_string(),
            message: message.into(),
        }
    }
    /// 400 `E011002` missing arguments.
    pub fn missing(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            codes::MISSING_ARGUMENTS,
            "Missing arguments",
            message,
        )
    }
    /// 400 `E011004` invalid arguments.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            codes::INVALID_ARGUMENTS,
            "Invalid arguments",
            message,
        )
    }
    /// 401: missing or unusable credentials.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            codes::UNAUTHORIZED,
            "Unauthorized",
            message,
        )
    }
    /// 404: unknown path or object.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            codes::NOT_FOUND,
            "Not found",
            message,
        )
    }
}

impl IntoResponse for DescopeError {
    fn into_response(self) -> Response {
        let body = json!({
            "errorCode": self.code,
            "errorDescription": self.description,
            "errorMessage": self.message,
        });
        let mut resp = (self.status, axum::Json(body)).into_response();
        resp.extensions_mut()
            .insert(OutcomeCode(self.code.to_string()));
        resp
    }
}

/// An error of the control API (`/_mock/...`): `{error, message}`.
#[derive(Debug, Clone)]
pub struct MockError {
    /// HTTP status.
    pub status: StatusCode,
    /// Short machine-readable code, e.g. `unknown_user`.
    pub error: String,
    /// A sentence naming the field at fault.
    pub message: String,
}

impl MockError {
    /// 400 with the given code.
    pub fn bad(error: &str, message: impl Into<String>) -> Self {
        MockError {
            status: StatusCode::BAD_REQUEST,
            error: error.into(),
            message: message.into(),
        }
    }
    /// 404 with the given code.
    pub fn not_found(error: &str, message: impl Into<String>) -> Self {
        MockError {
            status: StatusCode::NOT_FOUND,
            error: error.into(),
            message: message.into(),
        }
    }
}

impl IntoResponse for MockError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.error, "message": self.message});
        let mut resp = (self.status, axum::Json(body)).into_response();
        resp.extensions_mut().insert(OutcomeCode(self.error));
        resp
    }
}

/// `Cache-Control: no-store` (RFC 6749 §5.1), on every token-endpoint answer including errors.
pub fn no_store() -> [(header::HeaderName, &'static str); 2] {
    [
        (header::CACHE_CONTROL, "no-store"),
        (header::PRAGMA, "no-cache"),
    ]
}

/// Which error shape a path gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// RFC 6749 `{error, error_description}`.
    OAuth,
    /// Descope `{errorCode, errorDescription, errorMessage}`.
    Descope,
    /// `{error, message}`.
    Mock,
}

/// Pick the error shape for a request path. DCR lives under `/v1/mgmt/mcp/client/` but speaks
/// RFC 7591 (`invalid_client_metadata`), which MCP clients parse, so it gets the OAuth shape.
pub fn family(path: &str) -> Family {
    let dcr = path.starts_with("/v1/mgmt/mcp/client/") && path.ends_with("/register");
    if path.starts_with("/oauth2/") || path == "/oauth2" || dcr {
        Family::OAuth
    } else if path == "/_mock" || path.starts_with("/_mock/") || path.starts_with("/_upstream/") {
        // The mock-only surfaces answer `{error, message}` whatever follows: the spy upstream's
        // own refusals are `{error, message}` (README), so `/_upstream/<app>/.well-known/...`
        // must not fall into the `.well-known` rule below (found by fuzzing).
        Family::Mock
    } else if path.starts_with("/v1/") || path.starts_with("/v2/") || path.contains("/.well-known/")
    {
        // Descope's own paths, including the JWKS and discovery documents outside /v1.
        Family::Descope
    } else {
        Family::Mock
    }
}

/// An error in the shape the path's family uses; used for framework rejections (404, 405, 413,
/// bad JSON) and injected faults, which are not produced by a handler that knows its shape.
pub fn shaped(path: &str, status: StatusCode, message: &str) -> Response {
    match family(path) {
        Family::OAuth => {
            let error = match status.as_u16() {
                401 => ErrorCode::InvalidClient,
                403 => ErrorCode::AccessDenied,
                503 => ErrorCode::TemporarilyUnavailable,
                500..=599 => ErrorCode::ServerError,
                _ => ErrorCode::InvalidRequest,
            };
            OAuthError::new(error, message)
                .with_status(status)
                .into_response()
        }
        Family::Descope => {
            let code = match status.as_u16() {
                401 => codes::UNAUTHORIZED,
                403 => codes::FORBIDDEN,
                404 | 405 => codes::NOT_FOUND,
                400..=499 => codes::BAD_REQUEST,
                _ => codes::INJECTED_FAULT,
            };
            let desc = status.canonical_reason().unwrap_or("Error");
            DescopeError::new(status, code, desc, message).into_response()
        }
        Family::Mock => {
            let error = status
                .canonical_reason()
                .unwrap_or("error")
                .to_ascii_lowercase()
                .replace(' ', "_");
            MockError {
                status,
                error,
                message: message.to_string(),
            }
            .into_response()
        }
    }
}

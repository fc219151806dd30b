//! Protocol values as types: grant types, client authentication methods and OAuth error codes
//! (each with an `Extension` variant for values outside the registries, as oauth2-rs does), and
//! mock-as's own vocabulary for the journal: endpoint names and credential labels. Each has one
//! wire spelling, [`as_str`](GrantType::as_str), and parses back from it.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A closed set of names with one wire spelling each.
macro_rules! named {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($(#[$vm])* $v,)* }

        impl $name {
            /// Every value, in documentation order.
            pub const ALL: &'static [$name] = &[$($name::$v,)*];

            /// The wire spelling.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$v => $s,)* }
            }

            /// The value with this wire spelling.
            pub fn parse(s: &str) -> Option<$name> {
                match s { $($s => Some($name::$v),)* _ => None }
            }

            /// Every wire spelling, comma-separated (for error messages).
            pub fn list() -> String {
                Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::parse(&s).ok_or_else(|| {
                    serde::de::Error::custom(format!("{s:?} is not one of {}", $name::list()))
                })
            }
        }
    };
}

named! {
    /// The grant types mock-as's token endpoints serve (RFC 6749 §4.1.3, §4.4, §6; RFC 8693).
    GrantType {
        /// RFC 6749 §4.1.3.
        AuthorizationCode = "authorization_code",
        /// RFC 6749 §6.
        RefreshToken = "refresh_token",
        /// RFC 6749 §4.4.
        ClientCredentials = "client_credentials",
        /// RFC 8693 §2.1 token exchange.
        TokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange",
    }
}

named! {
    /// How a client authenticates at the token, revocation and introspection endpoints
    /// (RFC 7591 §2 `token_endpoint_auth_method`).
    AuthMethod {
        /// A public client: `client_id` only.
        None = "none",
        /// RFC 6749 §2.3.1 HTTP Basic.
        ClientSecretBasic = "client_secret_basic",
        /// RFC 6749 §2.3.1 `client_secret` in the body.
        ClientSecretPost = "client_secret_post",
    }
}

named! {
    /// The named endpoints faults and journal filters match on (see
    /// [`crate::routes::endpoint_of`]).
    Endpoint {
        /// Discovery documents.
        Discovery = "discovery",
        /// JWKS.
        Jwks = "jwks",
        /// RFC 7591 dynamic client registration.
        Register = "register",
        /// Authorization endpoints and the consent form.
        Authorize = "authorize",
        /// Token endpoints.
        Token = "token",
        /// RFC 7009 revocation.
        Revoke = "revoke",
        /// RFC 7662 introspection.
        Introspect = "introspect",
        /// OIDC userinfo.
        Userinfo = "userinfo",
        /// `GET /v1/mgmt/license`.
        License = "license",
        /// Connection (outbound app) token endpoints.
        Connections = "connections",
        /// Third-party consents.
        Consents = "consents",
        /// Other management endpoints.
        Mgmt = "mgmt",
        /// The spy upstream.
        Upstream = "upstream",
        /// Other `/oauth2/` paths.
        Oauth2 = "oauth2",
        /// Anything else.
        Other = "other",
        /// The control API (never faulted: it is how faults are cleared).
        Control = "control",
    }
}

impl Endpoint {
    /// The endpoints a fault may name (all but the control API).
    pub fn faultable() -> impl Iterator<Item = Endpoint> {
        Self::ALL
            .iter()
            .copied()
            .filter(|e| *e != Endpoint::Control)
    }
}

named! {
    /// Which credential a request carried, as the journal's `credential` says.
    Credential {
        /// No `Authorization` header.
        None = "none",
        /// An `Authorization` header that is not UTF-8, or not Basic/Bearer.
        Other = "other",
        /// HTTP Basic client authentication.
        Basic = "basic",
        /// `client_secret` in the body (RFC 6749 §2.3.1).
        ClientSecretPost = "client_secret_post",
        /// A public client's bare `client_id`.
        ClientId = "client_id",
        /// `Bearer <pid>:<management key>`.
        BearerManagementKey = "bearer-management-key",
        /// `Bearer <pid>:<jwt>`.
        BearerProjectJwt = "bearer-project-jwt",
        /// `Bearer <pid>:<something else>`.
        BearerProjectOther = "bearer-project-other",
        /// `Bearer <jwt>`.
        BearerJwt = "bearer-jwt",
        /// `Bearer <pid>`.
        BearerProject = "bearer-project",
        /// Any other bearer value.
        BearerOther = "bearer-other",
        /// A connection endpoint's bearer that failed verification.
        BearerInvalid = "bearer-invalid",
        /// The spy upstream: a stored connection token.
        BearerConnectionToken = "bearer-connection-token",
    }
}

/// An OAuth error code (RFC 6749 §4.1.2.1, §5.2; RFC 6750 §3.1; RFC 7591 §3.2.2; RFC 7009
/// §2.2.1; RFC 8707 §2), or another one as `Extension`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorCode {
    /// RFC 6749 §5.2.
    InvalidRequest,
    /// RFC 6749 §5.2.
    InvalidClient,
    /// RFC 6749 §5.2.
    InvalidGrant,
    /// RFC 6749 §5.2.
    UnauthorizedClient,
    /// RFC 6749 §5.2.
    UnsupportedGrantType,
    /// RFC 6749 §5.2.
    InvalidScope,
    /// RFC 6749 §4.1.2.1.
    AccessDenied,
    /// RFC 6749 §4.1.2.1.
    UnsupportedResponseType,
    /// RFC 6749 §4.1.2.1.
    ServerError,
    /// RFC 6749 §4.1.2.1.
    TemporarilyUnavailable,
    /// RFC 6750 §3.1.
    InvalidToken,
    /// RFC 7591 §3.2.2.
    InvalidRedirectUri,
    /// RFC 7591 §3.2.2.
    InvalidClientMetadata,
    /// RFC 7009 §2.2.1.
    UnsupportedTokenType,
    /// RFC 8707 §2.
    InvalidTarget,
    /// A code outside these registries.
    Extension(String),
}

impl ErrorCode {
    const NAMED: &'static [(ErrorCode, &'static str)] = &[
        (ErrorCode::InvalidRequest, "invalid_request"),
        (ErrorCode::InvalidClient, "invalid_client"),
        (ErrorCode::InvalidGrant, "invalid_grant"),
        (ErrorCode::UnauthorizedClient, "unauthorized_client"),
        (ErrorCode::UnsupportedGrantType, "unsupported_grant_type"),
        (ErrorCode::InvalidScope, "invalid_scope"),
        (ErrorCode::AccessDenied, "access_denied"),
        (
            ErrorCode::UnsupportedResponseType,
            "unsupported_response_type",
        ),
        (ErrorCode::ServerError, "server_error"),
        (ErrorCode::TemporarilyUnavailable, "temporarily_unavailable"),
        (ErrorCode::InvalidToken, "invalid_token"),
        (ErrorCode::InvalidRedirectUri, "invalid_redirect_uri"),
        (ErrorCode::InvalidClientMetadata, "invalid_client_metadata"),
        (ErrorCode::UnsupportedTokenType, "unsupported_token_type"),
        (ErrorCode::InvalidTarget, "invalid_target"),
    ];

    /// The wire spelling.
    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::Extension(s) => s,
            named => Self::NAMED
                .iter()
                .find(|(c, _)| c == named)
                .map_or("server_error", |(_, s)| s),
        }
    }

    /// The code with this spelling (an `Extension` when it is none of the registered ones).
    pub fn parse(s: &str) -> ErrorCode {
        Self::NAMED
            .iter()
            .find(|(_, n)| *n == s)
            .map_or_else(|| ErrorCode::Extension(s.to_string()), |(c, _)| c.clone())
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_back_to_itself() {
        for g in GrantType::ALL {
            assert_eq!(GrantType::parse(g.as_str()), Some(*g));
        }
        for c in Credential::ALL {
            assert_eq!(Credential::parse(c.as_str()), Some(*c));
        }
        for e in Endpoint::ALL {
            assert_eq!(Endpoint::parse(e.as_str()), Some(*e));
        }
        for (c, s) in ErrorCode::NAMED {
            assert_eq!(ErrorCode::parse(s), *c);
            assert_eq!(c.as_str(), *s);
        }
        assert_eq!(
            ErrorCode::parse("E061004"),
            ErrorCode::Extension("E061004".into())
        );
        assert_eq!(ErrorCode::parse("E061004").as_str(), "E061004");
        assert_eq!(GrantType::parse("password"), None);
    }

    #[test]
    fn serde_uses_the_wire_spelling_and_names_the_choices() {
        assert_eq!(
            serde_json::to_string(&AuthMethod::ClientSecretPost).unwrap(),
            "\"client_secret_post\""
        );
        let e = serde_json::from_str::<GrantType>("\"implicit\"").unwrap_err();
        assert!(e.to_string().contains("authorization_code, refresh_token"));
    }
}

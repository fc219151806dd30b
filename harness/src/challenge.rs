//! `WWW-Authenticate` parsing: RFC 7235 §4.1 / §2.1 (challenges, auth-params, quoted-string,
//! token68), with the RFC 6750 §3 (`error`, `scope`, `error_description`) and RFC 9728 §5.1
//! (`resource_metadata`) parameters read through [`Challenge::param`]. Hand-written because no
//! maintained crate parses several challenges per header with the RFC's comma ambiguity.

/// One challenge: `Bearer realm="x", error="invalid_token"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The auth scheme as sent (compare case-insensitively).
    pub scheme: String,
    /// Parameters in order; names lowercased (RFC 7235 §2.1: case-insensitive).
    pub params: Vec<(String, String)>,
    /// A token68 instead of parameters.
    pub token68: Option<String>,
}

impl Challenge {
    /// Whether the scheme is `Bearer` (case-insensitive).
    pub fn is_bearer(&self) -> bool {
        self.scheme.eq_ignore_ascii_case("bearer")
    }
    /// A parameter's value (name case-insensitive).
    pub fn param(&self, name: &str) -> Option<&str> {
        let n = name.to_ascii_lowercase();
        self.params
            .iter()
            .find(|(k, _)| *k == n)
            .map(|(_, v)| v.as_str())
    }
    /// `scope` split on spaces.
    pub fn scopes(&self) -> Vec<String> {
        self.param("scope")
            .map(|s| {
                s.split(' ')
                    .filter(|x| !x.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Why a header does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChallengeError {
    /// Nothing but white space and commas.
    #[error("empty WWW-Authenticate")]
    Empty,
    /// A scheme was expected at byte `0`.
    #[error("expected an auth scheme at byte {0}")]
    ExpectedScheme(usize),
    /// A parameter name was expected at byte `0`.
    #[error("expected a parameter name at byte {0}")]
    ExpectedParam(usize),
    /// A parameter value was expected at byte `0`.
    #[error("expected a parameter value at byte {0}")]
    ExpectedValue(usize),
    /// A quoted-string is not closed.
    #[error("unterminated quoted-string starting at byte {0}")]
    Unterminated(usize),
    /// A parameter is repeated in one challenge (RFC 7235 §2.1: MUST NOT).
    #[error("parameter {0:?} appears twice in one challenge")]
    Duplicate(String),
}

fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

fn is_token68(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-._~+/".contains(&c)
}

struct Cursor<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }
    fn ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }
    fn token(&mut self) -> &str {
        let start = self.pos;
        while self.peek().is_some_and(is_tchar) {
            self.pos += 1;
        }
        // tchar are ASCII, so the slice is valid UTF-8.
        std::str::from_utf8(&self.s[start..self.pos]).unwrap_or_default()
    }
    fn quoted(&mut self) -> Result<String, ChallengeError> {
        let start = self.pos;
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(ChallengeError::Unterminated(start)),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(String::from_utf8_lossy(&out).into_owned());
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c) => {
                            out.push(c);
                            self.pos += 1;
                        }
                        None => return Err(ChallengeError::Unterminated(start)),
                    }
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }
    /// At `name BWS "="` (not `==`, which is token68 padding)?
    fn at_param(&self) -> bool {
        let mut p = self.pos;
        let start = p;
        while self.s.get(p).copied().is_some_and(is_tchar) {
            p += 1;
        }
        if p == start {
            return false;
        }
        while matches!(self.s.get(p), Some(b' ' | b'\t')) {
            p += 1;
        }
        self.s.get(p) == Some(&b'=') && self.s.get(p + 1) != Some(&b'=')
    }
}

/// Parse one `WWW-Authenticate` field value into its challenges.
pub fn parse(header: &str) -> Result<Vec<Challenge>, ChallengeError> {
    let mut c = Cursor {
        s: header.as_bytes(),
        pos: 0,
    };
    let mut out: Vec<Challenge> = Vec::new();
    loop {
        while matches!(c.peek(), Some(b' ' | b'\t' | b',')) {
            c.pos += 1;
        }
        if c.peek().is_none() {
            break;
        }
        let at = c.pos;
        let scheme = c.token().to_string();
        if scheme.is_empty() {
            return Err(ChallengeError::ExpectedScheme(at));
        }
        let mut ch = Challenge {
            scheme,
            params: Vec::new(),
            token68: None,
        };
        let had_space = matches!(c.peek(), Some(b' ' | b'\t'));
        c.ows();
        if had_space && c.peek().is_some_and(is_token68) && !c.at_param() {
            // token68: runs to the end or the next comma.
            let start = c.pos;
            while c.peek().is_some_and(is_token68) {
                c.pos += 1;
            }
            while c.peek() == Some(b'=') {
                c.pos += 1;
            }
            let t = std::str::from_utf8(&c.s[start..c.pos])
                .unwrap_or_default()
                .to_string();
            c.ows();
            if c.peek().is_some() && c.peek() != Some(b',') {
                // Not a token68 after all (e.g. a second scheme without a comma): report.
                return Err(ChallengeError::ExpectedParam(c.pos));
            }
            ch.token68 = Some(t);
            out.push(ch);
            continue;
        }
        // auth-params, comma-separated; a token not followed by "=" starts the next challenge.
        loop {
            c.ows();
            if c.peek() == Some(b',') {
                let save = c.pos;
                while matches!(c.peek(), Some(b' ' | b'\t' | b',')) {
                    c.pos += 1;
                }
                if !c.at_param() {
                    c.pos = save;
                    break;
                }
            }
            if c.peek().is_none() || !c.at_param() {
                if c.peek().is_some() && c.peek() != Some(b',') {
                    return Err(ChallengeError::ExpectedParam(c.pos));
                }
                break;
            }
            let name = c.token().to_ascii_lowercase();
            c.ows();
            c.pos += 1; // '='
            c.ows();
            let vstart = c.pos;
            let value = match c.peek() {
                Some(b'"') => c.quoted()?,
                Some(x) if is_tchar(x) => c.token().to_string(),
                _ => return Err(ChallengeError::ExpectedValue(vstart)),
            };
            if ch.params.iter().any(|(k, _)| *k == name) {
                return Err(ChallengeError::Duplicate(name));
            }
            ch.params.push((name, value));
        }
        out.push(ch);
    }
    if out.is_empty() {
        return Err(ChallengeError::Empty);
    }
    Ok(out)
}

/// The first Bearer challenge among all `WWW-Authenticate` values of a response.
pub fn bearer<'a>(
    values: impl IntoIterator<Item = &'a str>,
) -> Result<Option<Challenge>, ChallengeError> {
    for v in values {
        if let Some(c) = parse(v)?.into_iter().find(Challenge::is_bearer) {
            return Ok(Some(c));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn mcp_challenges() {
        let v = parse(r#"Bearer resource_metadata="http://x/.well-known/oauth-protected-resource/mcp", scope="mcp:read""#).unwrap();
        assert_eq!(v.len(), 1);
        assert!(v[0].is_bearer());
        assert_eq!(
            v[0].param("resource_metadata"),
            Some("http://x/.well-known/oauth-protected-resource/mcp")
        );
        assert_eq!(v[0].scopes(), vec!["mcp:read"]);
        assert_eq!(v[0].param("error"), None);
        let v = parse(
            r#"Bearer error="insufficient_scope", scope="a b", ERROR_description="needs \"a\"""#,
        )
        .unwrap();
        assert_eq!(v[0].param("error"), Some("insufficient_scope"));
        assert_eq!(v[0].param("error_description"), Some("needs \"a\""));
        assert_eq!(v[0].scopes(), vec!["a", "b"]);
    }

    #[test]
    fn several_challenges_and_token68() {
        let v =
            parse(r#"Basic realm="simple", Newauth realm="apps", type=1, title="Login""#).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[1].scheme, "Newauth");
        assert_eq!(v[1].param("type"), Some("1"));
        let v = parse("Negotiate abc123==, Bearer").unwrap();
        assert_eq!(v[0].token68.as_deref(), Some("abc123=="));
        assert!(v[1].is_bearer() && v[1].params.is_empty());
        assert_eq!(parse("bearer").unwrap()[0].scheme, "bearer");
    }

    #[test]
    fn errors_are_typed() {
        assert_eq!(parse(""), Err(ChallengeError::Empty));
        assert_eq!(parse(" , "), Err(ChallengeError::Empty));
        assert!(matches!(
            parse(r#"Bearer realm="x"#),
            Err(ChallengeError::Unterminated(_))
        ));
        assert!(matches!(
            parse("Bearer a=1, a=2"),
            Err(ChallengeError::Duplicate(_))
        ));
        assert!(matches!(
            parse("=x"),
            Err(ChallengeError::ExpectedScheme(0))
        ));
        assert!(matches!(
            parse("Bearer a="),
            Err(ChallengeError::ExpectedValue(_))
        ));
    }

    fn quote(s: &str) -> String {
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    }

    proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,120}") {
            let _ = parse(&s);
        }

        #[test]
        fn roundtrips_generated_bearer_challenges(
            params in proptest::collection::btree_map("[a-z_]{1,12}", "[ -~]{0,20}", 0..5)
        ) {
            let body: Vec<String> = params.iter().map(|(k, v)| format!("{k}={}", quote(v))).collect();
            let header = if body.is_empty() { "Bearer".to_string() } else { format!("Bearer {}", body.join(", ")) };
            let v = parse(&header).unwrap();
            prop_assert_eq!(v.len(), 1);
            for (k, val) in &params {
                prop_assert_eq!(v[0].param(k), Some(val.as_str()));
            }
        }
    }
}

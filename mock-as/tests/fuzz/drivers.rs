//! The drivers: where requests go (the app in process or a real listener), the valid set-up
//! requests that fill the pools, and the check that the server still serves afterwards.

use super::*;

/// Where requests go: the app in process, or a real listener.
pub(crate) enum Target {
    App(Router),
    Http {
        client: reqwest::Client,
        base: String,
    },
}

/// Make a target URI acceptable to `http::Uri`: percent-encode what it refuses.
pub(crate) fn sanitize(target: &str) -> String {
    if Uri::try_from(target).is_ok() {
        return target.to_string();
    }
    let mut out = String::new();
    for b in target.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Target {
    pub(crate) async fn send(&self, c: &Case) -> Result<Answer, String> {
        match self {
            Target::App(app) => {
                let uri = Uri::try_from(sanitize(&c.target)).map_err(|e| format!("uri: {e}"))?;
                let path = uri.path().to_string();
                let mut b = Request::builder().method(c.method.clone()).uri(uri);
                for (k, v) in &c.headers {
                    b = b.header(k, v);
                }
                let req = b
                    .body(Body::from(c.body.clone()))
                    .map_err(|e| format!("request: {e}"))?;
                let resp = app
                    .clone()
                    .oneshot(req)
                    .await
                    .unwrap_or_else(|e| match e {});
                let status = resp.status().as_u16();
                let headers = resp.headers().clone();
                let body = resp
                    .into_body()
                    .collect()
                    .await
                    .map_err(|e| format!("body: {e}"))?
                    .to_bytes();
                Ok(Answer {
                    path,
                    status,
                    headers,
                    body,
                })
            }
            Target::Http { client, base } => {
                let url = reqwest::Url::parse(&format!("{base}{}", sanitize(&c.target)))
                    .map_err(|e| format!("url: {e}"))?;
                let mut headers = HeaderMap::new();
                for (k, v) in &c.headers {
                    headers.append(k.clone(), v.clone());
                }
                let req = client
                    .request(c.method.clone(), url)
                    .headers(headers)
                    .body(c.body.clone())
                    .build()
                    .map_err(|e| format!("build: {e}"))?;
                let path = req.url().path().to_string();
                let retry = req.try_clone();
                // A server may close a keep-alive connection after answering a request whose
                // body it did not read (a 405 to a HEAD with 80 KiB); the client learns it on
                // the next request. Retry once on a fresh connection: a request that itself
                // breaks the connection fails twice.
                let resp = match client.execute(req).await {
                    Ok(r) => r,
                    Err(first) => {
                        let req = retry.ok_or_else(|| format!("send: {first:?}"))?;
                        client
                            .execute(req)
                            .await
                            .map_err(|e| format!("send (twice): {first:?}; {e:?}"))?
                    }
                };
                let status = resp.status().as_u16();
                let headers = resp.headers().clone();
                let body = resp.bytes().await.map_err(|e| format!("body: {e}"))?;
                Ok(Answer {
                    path,
                    status,
                    headers,
                    body,
                })
            }
        }
    }

    /// A well-formed request; the answer must be the expected status.
    pub(crate) async fn valid(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        want: u16,
    ) -> Value {
        let c = Case::plain(method, target, headers, body);
        let a = self.send(&c).await.unwrap();
        assert_eq!(
            a.status,
            want,
            "{method} {target}: {}",
            String::from_utf8_lossy(&a.body)
        );
        serde_json::from_slice(&a.body).unwrap_or(Value::Null)
    }

    pub(crate) async fn control(&self, target: &str, body: Value, admin: bool, want: u16) -> Value {
        let mut h = vec![("content-type", "application/json")];
        let bearer = format!("Bearer {ADMIN_TOKEN}");
        if admin {
            h.push(("authorization", &bearer));
        }
        self.valid("POST", target, &h, body.to_string().as_bytes(), want)
            .await
    }
}

// ---- setup and the valid requests afterwards -------------------------------------------------

/// Valid requests that fill the generator's pools: tokens good and absurd, codes, refresh
/// tokens, connect URLs, connection tokens.
pub(crate) async fn setup(t: &Target, admin: bool) -> Pools {
    let mut p = Pools::default();
    let outbound = json!(["mcp:read", "calendar.read", "outbound.token.fetch"]);
    let mint = |body: Value| async move {
        let v = t.control("/_mock/tokens", body, admin, 200).await;
        v["access_token"].as_str().unwrap().to_string()
    };
    p.user_jwt = mint(json!({"user": "U2alice", "scopes": outbound})).await;
    p.jwts.push(p.user_jwt.clone());
    p.jwts
        .push(mint(json!({"user": "U2root", "scopes": outbound})).await);
    p.jwts.push(mint(json!({})).await);
    for flaw in FLAWS {
        p.jwts
            .push(mint(json!({"user": "U2alice", "scopes": outbound, "flaw": flaw})).await);
    }
    // Signed, but with claims no real token has.
    for claims in [
        json!({"exp": i64::MAX}),
        json!({"exp": i64::MIN}),
        json!({"nbf": i64::MAX}),
        json!({"nbf": i64::MIN, "iat": i64::MIN}),
        json!({"exp": u64::MAX}),
        json!({"exp": 1e300}),
        json!({"exp": "tomorrow"}),
        json!({"iss": 5, "jti": 7, "scope": 1, "scopes": "x", "sub": null, "aud": {}}),
        json!({"jti": "", "sub": "U2nobody"}),
    ] {
        p.jwts
            .push(mint(json!({"user": "U2alice", "scopes": outbound, "claims": claims})).await);
    }
    // Forged: our kid, no valid signature; and things that are barely JWTs.
    let enc = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let header = enc(json!({"alg": "RS256", "kid": "SKmockDefault1", "typ": "JWT"}));
    p.jwts.push(format!(
        "{header}.{}.AAAA",
        enc(json!({"exp": i64::MAX, "nbf": i64::MIN, "sub": "U2alice"}))
    ));
    p.jwts.push(format!(
        "{}.{}.",
        enc(json!({"alg": "none"})),
        enc(json!({"exp": i64::MAX, "jti": "forged"}))
    ));
    p.jwts.push(format!(
        "{}.{}.sig",
        enc(json!({"alg": "HS256", "kid": 5})),
        enc(json!([]))
    ));
    for junk in ["a.b.c", "eyJ.eyJ.", "...", "e30.e30.e30.e30", "%00.%00.%00"] {
        p.jwts.push(junk.to_string());
    }

    // Authorization codes for the public client (one verifier for all).
    p.verifier = "fuzz-verifier-0123456789-abcdefghijklmnopqrstuvwxyz".into();
    p.challenge = URL_SAFE_NO_PAD.encode(<sha2::Sha256 as sha2::Digest>::digest(
        p.verifier.as_bytes(),
    ));
    let authorize = format!(
        "/oauth2/v1/apps/agentic/{PID}/{SID}/authorize?response_type=code&client_id={PUBLIC_CLIENT}\
         &redirect_uri={}&code_challenge={}&code_challenge_method=S256&state=s&resource={}\
         &scope=mcp%3Aread+outbound.token.fetch",
        form_urlencoded::byte_serialize(PUBLIC_REDIRECT.as_bytes()).collect::<String>(),
        p.challenge,
        form_urlencoded::byte_serialize(RESOURCE.as_bytes()).collect::<String>(),
    );
    for i in 0..24 {
        let c = Case::plain("GET", &authorize, &[], b"");
        let a = t.send(&c).await.unwrap();
        assert_eq!(a.status, 302, "setup authorize: {:?}", a.body);
        let loc = a.headers[header::LOCATION].to_str().unwrap();
        let code = url::Url::parse(loc)
            .unwrap()
            .query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .into_owned();
        if i < 6 {
            let form = form_urlencoded::Serializer::new(String::new())
                .append_pair("grant_type", "authorization_code")
                .append_pair("code", &code)
                .append_pair("client_id", PUBLIC_CLIENT)
                .append_pair("redirect_uri", PUBLIC_REDIRECT)
                .append_pair("code_verifier", &p.verifier)
                .finish();
            let v = t
                .valid(
                    "POST",
                    &format!("/oauth2/v1/apps/agentic/{PID}/{SID}/token"),
                    &[("content-type", "application/x-www-form-urlencoded")],
                    form.as_bytes(),
                    200,
                )
                .await;
            p.refresh
                .push(v["refresh_token"].as_str().unwrap().to_string());
            p.jwts.push(v["access_token"].as_str().unwrap().to_string());
        } else {
            p.codes.push(code);
        }
    }

    // Connect URLs (management key).
    let mgmt = format!("Bearer {PID}:{MGMT_KEY}");
    for _ in 0..6 {
        let v = t
            .valid(
                "POST",
                "/v1/mgmt/outbound/app/connect",
                &[
                    ("content-type", "application/json"),
                    ("authorization", &mgmt),
                ],
                json!({"appId": "google-calendar", "userId": "U2alice"})
                    .to_string()
                    .as_bytes(),
                200,
            )
            .await;
        let url = v["url"].as_str().unwrap();
        p.connect_states
            .push(url.rsplit('/').next().unwrap().to_string());
    }

    // Stored connection tokens (ids for deletes, values for the spy upstream).
    let bearer = format!("Bearer {ADMIN_TOKEN}");
    let h: &[(&str, &str)] = if admin {
        &[("authorization", &bearer)]
    } else {
        &[]
    };
    let v = t.valid("GET", "/_mock/connections", h, b"", 200).await;
    for c in v["connections"].as_array().unwrap() {
        p.conn_ids.push(c["id"].as_str().unwrap().to_string());
        p.conn_tokens
            .push(c["accessToken"].as_str().unwrap().to_string());
    }
    p
}

/// The server still answers valid requests: discovery, JWKS, a client_credentials token.
pub(crate) async fn still_serves(t: &Target) {
    let doc = t
        .valid(
            "GET",
            &format!("/v1/apps/agentic/{PID}/{SID}/.well-known/openid-configuration"),
            &[],
            b"",
            200,
        )
        .await;
    assert!(
        doc["issuer"].as_str().is_some_and(|i| i.ends_with(SID)),
        "discovery after the fuzz: {doc}"
    );
    let jwks = t
        .valid(
            "GET",
            &format!("/{PID}/.well-known/jwks.json"),
            &[],
            b"",
            200,
        )
        .await;
    assert!(
        jwks["keys"].as_array().is_some_and(|k| !k.is_empty()),
        "JWKS after the fuzz: {jwks}"
    );
    let basic = String::from_utf8(Gen::basic(CONF_CLIENT, CONF_SECRET)).unwrap();
    let tok = t
        .valid(
            "POST",
            &format!("/oauth2/v1/apps/agentic/{PID}/{SID}/token"),
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("authorization", &basic),
            ],
            b"grant_type=client_credentials",
            200,
        )
        .await;
    assert!(
        tok["access_token"]
            .as_str()
            .is_some_and(|a| a.split('.').count() == 3),
        "client_credentials after the fuzz: {tok}"
    );
}

pub(crate) fn fresh_state(admin: Option<&str>) -> mock_as::AppState {
    mock_as::AppState::new(
        mock_as::Config::embedded_default().unwrap(),
        "http://mock-as.test".into(),
        admin.map(str::to_string),
    )
    .unwrap()
}

//! The generator: a seeded PRNG (splitmix64), the pools of valid-looking values that [`setup`]
//! fills, and [`Gen`], which draws a broken request ([`Case`]) for a route of the catalogue.

use super::*;

pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub(crate) fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    pub(crate) fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    pub(crate) fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
    pub(crate) fn one(&mut self, xs: &[&'static str]) -> &'static str {
        xs[self.below(xs.len())]
    }
    pub(crate) fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }
    pub(crate) fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

// ---- what the generator draws valid-looking values from --------------------------------------

/// Tokens, codes and ids created by [`setup`] with valid requests.
#[derive(Debug, Default, Clone)]
pub(crate) struct Pools {
    /// Signed tokens from good to absurd (flaws, extreme claims) and forged ones.
    pub(crate) jwts: Vec<String>,
    /// A valid U2alice token with `outbound.token.fetch`.
    pub(crate) user_jwt: String,
    pub(crate) codes: Vec<String>,
    pub(crate) refresh: Vec<String>,
    pub(crate) verifier: String,
    pub(crate) challenge: String,
    pub(crate) connect_states: Vec<String>,
    pub(crate) conn_ids: Vec<String>,
    pub(crate) conn_tokens: Vec<String>,
}

/// One generated request.
#[derive(Debug, Clone)]
pub(crate) struct Case {
    pub(crate) method: Method,
    /// Path and query (or an absolute-form URI, or `*`).
    pub(crate) target: String,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) body: Vec<u8>,
    /// Send to the app started with `--admin-token`.
    pub(crate) admin: bool,
    /// The catalogue route it was built from (None for unknown paths).
    pub(crate) route: Option<usize>,
}

impl Case {
    /// A hand-written request (not from the catalogue) to the app without an admin token.
    pub(crate) fn plain(method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Case {
        Case {
            method: Method::from_bytes(method.as_bytes()).unwrap(),
            target: target.to_string(),
            headers: headers
                .iter()
                .map(|(k, v)| {
                    (
                        HeaderName::from_bytes(k.as_bytes()).unwrap(),
                        HeaderValue::from_str(v).unwrap(),
                    )
                })
                .collect(),
            body: body.to_vec(),
            admin: false,
            route: None,
        }
    }

    pub(crate) fn describe(&self) -> String {
        let t = truncate(&self.target, 300);
        let hs: Vec<String> = self
            .headers
            .iter()
            .map(|(k, v)| {
                let v = String::from_utf8_lossy(v.as_bytes());
                let v: String = v.chars().take(120).collect();
                format!("{k}: {v}")
            })
            .collect();
        let body = String::from_utf8_lossy(&self.body);
        let body: String = body.chars().take(300).collect();
        format!(
            "{} {t}{}\n    headers: {hs:?}\n    body ({} bytes): {body:?}",
            self.method,
            if self.admin { " [admin-token app]" } else { "" },
            self.body.len()
        )
    }
}

pub(crate) struct Gen {
    pub(crate) rng: Rng,
    /// Grows with what valid-enough requests obtain (codes, refresh tokens, access tokens).
    pub(crate) pools: Pools,
    /// Only what reqwest can send over a real socket.
    pub(crate) listener: bool,
}

pub(crate) fn s(v: impl AsRef<str>) -> Value {
    Value::String(v.as_ref().to_string())
}

impl Gen {
    pub(crate) fn new(seed: u64, pools: Pools, listener: bool) -> Gen {
        Gen {
            rng: Rng(seed),
            pools,
            listener,
        }
    }

    pub(crate) fn case(&mut self) -> Case {
        let mut c = if self.rng.chance(12) {
            self.path_trick()
        } else {
            let mut i = self.rng.below(ROUTES.len());
            // A valid reset wipes what the fuzz built up (sessions, purge counters): keep it rare.
            if ROUTES[i].path == "/_mock/reset" && self.rng.chance(90) {
                i = self.rng.below(ROUTES.len());
            }
            self.route_case(i)
        };
        // `http::Uri` refuses targets of 64 KiB and more: long, but a request.
        if c.target.len() > MAX_TARGET {
            let mut end = MAX_TARGET;
            while !c.target.is_char_boundary(end) {
                end -= 1;
            }
            c.target.truncate(end);
        }
        c
    }

    /// A random member of a pool, if it has any.
    pub(crate) fn pooled(&mut self, which: fn(&Pools) -> &Vec<String>) -> Option<String> {
        let v = which(&self.pools);
        if v.is_empty() {
            return None;
        }
        let i = self.rng.below(v.len());
        Some(v[i].clone())
    }

    /// Keep what a request obtained: codes from redirects, tokens from token answers.
    pub(crate) fn learn(&mut self, a: &Answer) {
        fn keep(pool: &mut Vec<String>, v: String, slot: usize) {
            if pool.len() < 64 {
                pool.push(v);
            } else {
                pool[slot % 64] = v;
            }
        }
        let slot = self.rng.below(64);
        if a.status == 302
            && let Some(code) = a
                .headers
                .get(header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| url::Url::parse(l).ok())
                .and_then(|u| {
                    u.query_pairs()
                        .find(|(k, _)| k == "code")
                        .map(|(_, v)| v.into_owned())
                })
        {
            keep(&mut self.pools.codes, code, slot);
        }
        if a.status == 200 && a.path.starts_with("/oauth2/") && a.path.ends_with("/token") {
            let v: Value = serde_json::from_slice(&a.body).unwrap_or(Value::Null);
            if let Some(r) = v["refresh_token"].as_str() {
                keep(&mut self.pools.refresh, r.to_string(), slot);
            }
            if let Some(t) = v["access_token"].as_str() {
                keep(&mut self.pools.jwts, t.to_string(), slot);
            }
        }
    }

    pub(crate) fn method(&mut self, allowed: &[&str]) -> Method {
        let m = if self.rng.chance(80) {
            *self.rng.pick(allowed)
        } else {
            *self.rng.pick(OTHER_METHODS)
        };
        let m = if self.listener && m == "CONNECT" {
            "OPTIONS"
        } else {
            m
        };
        Method::from_bytes(m.as_bytes()).unwrap()
    }

    pub(crate) fn route_case(&mut self, i: usize) -> Case {
        let route = &ROUTES[i];
        let method = self.method(route.methods);
        let mut target = self.fill(route.path);
        let mut headers = Vec::new();
        let mut body = Vec::new();
        let admin = route.cred == Cred::Control && self.rng.chance(15);
        self.auth(route.cred, admin, &mut headers);
        let reads_query =
            method == Method::GET || method == Method::HEAD || method == Method::DELETE;
        match route.kind {
            Kind::Nothing => {
                if self.rng.chance(20) {
                    self.random_body(route, &mut headers, &mut body);
                }
            }
            Kind::Query => {
                let q = self.query(route);
                target.push_str(&q);
                if self.rng.chance(10) {
                    self.random_body(route, &mut headers, &mut body);
                }
            }
            Kind::Form if reads_query => {
                let q = self.query(route);
                target.push_str(&q);
            }
            Kind::Form => {
                body = self.form_body(route);
                self.content_type("application/x-www-form-urlencoded", &mut headers);
            }
            Kind::Json | Kind::Rules => {
                if !reads_query || self.rng.chance(30) {
                    body = self.json_body(route);
                    self.content_type("application/json", &mut headers);
                }
            }
            Kind::RotateRefused => {
                body = self.refused_rotate_body();
                headers.push((
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                ));
            }
            Kind::Anything => self.random_body(route, &mut headers, &mut body),
        }
        if self.rng.chance(8) {
            let q = self.junk_query();
            target.push_str(&q);
        }
        self.extra_headers(&mut headers);
        if self.rng.chance(4) {
            body = self.huge(body);
        }
        Case {
            method,
            target,
            headers,
            body,
            admin,
            route: Some(i),
        }
    }

    /// Any body at all, with a content type that may or may not match.
    pub(crate) fn random_body(
        &mut self,
        route: &Route,
        headers: &mut Vec<(HeaderName, HeaderValue)>,
        body: &mut Vec<u8>,
    ) {
        match self.rng.below(4) {
            0 => {
                *body = self.json_body(route);
                self.content_type("application/json", headers);
            }
            1 => {
                *body = self.form_body(route);
                self.content_type("application/x-www-form-urlencoded", headers);
            }
            2 => {
                let n = self.rng.range(0, 300);
                *body = self.rng.bytes(n);
                self.content_type("application/octet-stream", headers);
            }
            _ => {
                *body = b"\xff\xfe\xfd{\"a\": \"\xc3\x28\"}".to_vec();
                self.content_type("application/json", headers);
            }
        }
    }

    // -- paths ----------------------------------------------------------------------------------

    pub(crate) fn fill(&mut self, template: &str) -> String {
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find('{') {
            out.push_str(&rest[..start]);
            let end = rest[start..].find('}').unwrap() + start;
            let name = &rest[start + 1..end];
            let v = if self.rng.chance(78) {
                self.param(name)
            } else {
                self.evil_segment()
            };
            out.push_str(&v);
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    }

    pub(crate) fn param(&mut self, name: &str) -> String {
        let v: &str = match name {
            "pid" => self.rng.one(&[PID, PID, PID, "P2otherProject"]),
            "sid" => self.rng.one(&[SID, SID, SIBLING, "MS2nope"]),
            // Users the fuzz may delete: never the ones the valid requests rely on.
            "uid" => self
                .rng
                .one(&["U2fuzz", "fuzz@example.com", "U2mallory", "U2nobody"]),
            "app" => self.rng.one(&["google-calendar", "salesforce", "nope-app"]),
            "rest" => self.rng.one(&[
                "calendar/v3/events",
                "a/b/c",
                "x",
                "deep/er/path/%2e%2e",
                ".well-known/openid-configuration",
            ]),
            "state" => {
                if self.rng.chance(60)
                    && let Some(v) = self.pooled(|p| &p.connect_states)
                {
                    return v;
                }
                "no-such-state"
            }
            "fid" => self.rng.one(&[
                "1",
                "0",
                "2",
                "18446744073709551615",
                "18446744073709551616",
                "-1",
                "1.5",
                "x",
            ]),
            "cid" => {
                if self.rng.chance(50)
                    && let Some(v) = self.pooled(|p| &p.conn_ids)
                {
                    return v;
                }
                "OTnope"
            }
            "rule" => self.rng.one(&[
                "everyone",
                "fuzz-rule",
                "users read calendars",
                "admins%20only",
            ]),
            _ => "x",
        };
        v.to_string()
    }

    pub(crate) fn evil_segment(&mut self) -> String {
        match self.rng.below(18) {
            0 => String::new(),
            1 => "%ff".into(),
            2 => "%00".into(),
            3 => "%2F".into(),
            4 => "..".into(),
            5 => "%2e%2e".into(),
            6 => "a%20b".into(),
            7 => "x".repeat(self.rng.range(256, 20_000)),
            8 => "%c3%28".into(),
            9 => "%ed%a0%80".into(),
            10 => "%F0%9F%98%80".into(),
            11 => "%7Bpid%7D".into(),
            12 => ";".into(),
            13 => "%".into(),
            14 => "%zz".into(),
            15 => format!("{PID}%00"),
            16 => format!("{PID}:{MGMT_KEY}"),
            _ => ".".into(),
        }
    }

    pub(crate) fn path_trick(&mut self) -> Case {
        let i = self.rng.below(ROUTES.len());
        let base = self.fill(ROUTES[i].path);
        let variants = if self.listener { 12 } else { 14 };
        let target = match self.rng.below(variants) {
            0 => format!("/{base}"),
            1 => {
                let slashes: Vec<usize> = base.match_indices('/').map(|(i, _)| i).collect();
                let at = *self.rng.pick(&slashes);
                format!("{}/{}", &base[..at], &base[at..])
            }
            2 => format!("{base}/"),
            3 => format!(
                "{base}{}",
                self.rng
                    .pick(&["/..", "/../_mock/info", "/.", "/%2e%2e/%2e%2e/_mock/reset"])
            ),
            4 => {
                let mut segs: Vec<&str> = base.split('/').collect();
                let k = self.rng.range(1, segs.len() - 1);
                segs[k] = self.rng.one(&["..", "%2e%2e", ".", "%2E", "%2e%2e%2f"]);
                segs.join("/")
            }
            5 => base.to_uppercase(),
            6 => {
                // Percent-encode one letter: routers must not decode the path before matching.
                let letters: Vec<usize> = base
                    .char_indices()
                    .filter(|(_, c)| c.is_ascii_alphabetic())
                    .map(|(i, _)| i)
                    .collect();
                match letters.is_empty() {
                    true => base,
                    false => {
                        let at = *self.rng.pick(&letters);
                        format!(
                            "{}%{:02X}{}",
                            &base[..at],
                            base.as_bytes()[at],
                            &base[at + 1..]
                        )
                    }
                }
            }
            7 => format!(
                "{base}{}",
                self.rng
                    .pick(&["%00", "%00.json", "%0a", "%0d%0aX-Injected:%20yes"])
            ),
            8 => format!("{base};jsessionid=x"),
            9 => match self.rng.below(3) {
                0 => format!("{base}/{}", "a".repeat(self.rng.range(1000, 60_000))),
                1 => "/a".repeat(self.rng.range(500, 8000)),
                _ => format!("/{}", "%41".repeat(self.rng.range(1000, 10_000))),
            },
            10 => (*self.rng.pick(UNKNOWN_PATHS)).to_string(),
            11 => {
                let n = self.rng.range(1, 6);
                let mut p = String::new();
                for _ in 0..n {
                    p.push('/');
                    p.push_str(self.rng.one(&[
                        "oauth2",
                        "v1",
                        "v2",
                        "_mock",
                        "_upstream",
                        "apps",
                        "mgmt",
                        ".well-known",
                        "token",
                        PID,
                        "x",
                        "%00",
                        "..",
                        "",
                        "register",
                        "keys",
                    ]));
                }
                p
            }
            12 => format!("http://evil.example{base}"),
            _ => "*".into(),
        };
        let method = self.method(OTHER_METHODS);
        let mut headers = Vec::new();
        let mut body = Vec::new();
        let admin = self.rng.chance(10);
        let cred = *self.rng.pick(&[
            C::None,
            C::Client,
            C::Mgmt,
            C::Caller,
            C::Access,
            C::Control,
        ]);
        self.auth(cred, admin, &mut headers);
        if self.rng.chance(50) {
            self.random_body(&ROUTES[i], &mut headers, &mut body);
        }
        self.extra_headers(&mut headers);
        Case {
            method,
            target,
            headers,
            body,
            admin,
            route: None,
        }
    }

    // -- parameters -----------------------------------------------------------------------------

    /// A complete valid parameter set for the OAuth core (authorize, token), so that one
    /// mutation reaches deep code, not the first check.
    pub(crate) fn recipe(&mut self, route: &Route) -> Option<Vec<(String, Value)>> {
        let kv = |k: &str, v: &str| (k.to_string(), s(v));
        let generic = !route.path.contains("{sid}");
        let mut v = if route.fields == AUTHZ {
            vec![
                kv("response_type", "code"),
                kv("client_id", PUBLIC_CLIENT),
                kv("redirect_uri", PUBLIC_REDIRECT),
                kv("code_challenge", &self.pools.challenge),
                kv("code_challenge_method", "S256"),
                kv("state", "st4te"),
                kv("scope", "mcp:read outbound.token.fetch"),
                kv("resource", RESOURCE),
            ]
        } else if route.fields == TOKEN {
            match self.rng.below(4) {
                3 => vec![
                    kv(
                        "grant_type",
                        "urn:ietf:params:oauth:grant-type:token-exchange",
                    ),
                    kv("client_id", CONF_CLIENT),
                    kv("client_secret", CONF_SECRET),
                    kv("subject_token", &self.pools.user_jwt.clone()),
                    kv(
                        "subject_token_type",
                        "urn:ietf:params:oauth:token-type:access_token",
                    ),
                    kv("resource", "http://127.0.0.1:8002/mcp"),
                ],
                0 => vec![
                    kv("grant_type", "client_credentials"),
                    kv("client_id", CONF_CLIENT),
                    kv("client_secret", CONF_SECRET),
                ],
                1 => {
                    let rt = self.pooled(|p| &p.refresh).unwrap_or_default();
                    vec![
                        kv("grant_type", "refresh_token"),
                        kv("refresh_token", &rt),
                        kv("client_id", PUBLIC_CLIENT),
                    ]
                }
                _ => {
                    let code = self.pooled(|p| &p.codes).unwrap_or_default();
                    vec![
                        kv("grant_type", "authorization_code"),
                        kv("code", &code),
                        kv("client_id", PUBLIC_CLIENT),
                        kv("redirect_uri", PUBLIC_REDIRECT),
                        kv("code_verifier", &self.pools.verifier.clone()),
                    ]
                }
            }
        } else {
            return None;
        };
        if generic {
            v.push(kv("project_id", PID));
            v.push(kv("mcp_server_id", SID));
        }
        Some(v)
    }

    /// The route's fields: mostly-valid with a mutation or two, or a random subset.
    pub(crate) fn fields(&mut self, route: &Route) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        if self.rng.chance(40) {
            match self.recipe(route) {
                Some(r) if self.rng.chance(60) => out = r,
                _ => {
                    for f in route.fields {
                        let v = self.plausible(route, f);
                        out.push((f.to_string(), v));
                    }
                }
            }
            for _ in 0..self.rng.below(3) {
                if out.is_empty() {
                    break;
                }
                let k = self.rng.below(out.len());
                match self.rng.below(3) {
                    0 => {
                        out.remove(k);
                    }
                    1 => out[k].1 = self.evil_json(2),
                    _ => {
                        let dup = out[k].clone();
                        out.push(dup);
                    }
                }
            }
        } else {
            for f in route.fields {
                if self.rng.chance(50) {
                    let v = if self.rng.chance(50) {
                        self.plausible(route, f)
                    } else {
                        self.evil_json(2)
                    };
                    out.push((f.to_string(), v));
                }
            }
        }
        if self.rng.chance(10) {
            let k = self.evil_string();
            let v = self.evil_json(1);
            out.push((k, v));
        }
        out
    }

    pub(crate) fn plausible(&mut self, route: &Route, field: &str) -> Value {
        let path = route.path;
        let num = |g: &mut Self| -> Value {
            let n = *g.rng.pick(NUMBERS);
            serde_json::from_str(&n.to_string()).unwrap()
        };
        match field {
            "appId" | "app" => s(self.rng.one(&["google-calendar", "salesforce", "nope-app"])),
            "userId" | "loginId" | "login_hint" | "user" => s(self.rng.one(&[
                "U2alice",
                "U2root",
                "alice@example.com",
                "U2mallory",
                "U2nobody",
            ])),
            "tenantId" | "tenant" => s(self.rng.one(&["T2acme", "T2globex", "T2nope"])),
            "tenants" if path == "/_mock/users" => {
                json!([{"id": self.rng.pick(&["T2acme", "T2nope"]), "roles": ["member"]}])
            }
            "tenants" => json!([self.rng.pick(&["T2acme", "T2globex", "T2nope"])]),
            "scopes" if path.starts_with("/_mock/servers") => self
                .rng
                .pick(&[
                    json!([{"name": "mcp:read"}, {"name": "calendar.read", "description": "x"}]),
                    json!([]),
                    json!([{"name": "a b"}]),
                    json!([{"name": "dup"}, {"name": "dup"}]),
                ])
                .clone(),
            "scopes" => self
                .rng
                .pick(&[
                    json!(["calendar.readonly"]),
                    json!(["calendar.events", "calendar.readonly"]),
                    json!(["reports.read"]),
                    json!(["mcp:read", "outbound.token.fetch"]),
                    json!(["*"]),
                    json!([]),
                ])
                .clone(),
            "scope" => s(self.rng.one(&[
                "mcp:read",
                "mcp:read calendar.read",
                "openid outbound.token.fetch",
                "mcp:admin",
                "bad\"scope",
                "notes.read",
            ])),
            "client_id" | "client" => {
                s(self
                    .rng
                    .one(&[PUBLIC_CLIENT, CONF_CLIENT, "unknown-client"]))
            }
            "clients" => json!([PUBLIC_CLIENT]),
            "client_secret" => s(self.rng.one(&[CONF_SECRET, "wrong"])),
            "redirect_uri" => s(self.rng.one(&[
                PUBLIC_REDIRECT,
                "https://client.example.com/callback",
                "http://127.0.0.1:33418/other",
            ])),
            "redirect_uris" => self
                .rng
                .pick(&[
                    json!([PUBLIC_REDIRECT]),
                    json!(["https://client.example.com/cb", "http://localhost:1/x"]),
                    json!(["javascript:alert(1)"]),
                    json!([]),
                ])
                .clone(),
            "code_challenge" => s(&self.pools.challenge),
            "code_challenge_method" => s(self.rng.one(&["S256", "S256", "plain"])),
            "code_verifier" => s(&self.pools.verifier),
            "code" => s(self
                .pooled(|p| &p.codes)
                .unwrap_or_else(|| "no-code".into())),
            "refresh_token" if path == "/_mock/connections" => json!(self.rng.chance(50)),
            "refresh_token" | "refreshToken" => s(self
                .pooled(|p| &p.refresh)
                .unwrap_or_else(|| "no-refresh".into())),
            "grant_type" => s(self.rng.one(&[
                "authorization_code",
                "refresh_token",
                "client_credentials",
                "password",
                "urn:ietf:params:oauth:grant-type:device_code",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ])),
            "subject_token" | "actor_token" => s(self
                .pooled(|p| &p.jwts)
                .unwrap_or_else(|| self.pools.user_jwt.clone())),
            "subject_token_type" | "requested_token_type" => s(self.rng.one(&[
                "urn:ietf:params:oauth:token-type:access_token",
                "urn:ietf:params:oauth:token-type:id_token",
                "",
            ])),
            "audience" if path.ends_with("/token") => s(self.rng.one(&[
                "MS2notes",
                "MS2calendar",
                "http://127.0.0.1:8002/mcp",
                "nope",
            ])),
            "dcr_allowed_redirect_domains" | "cimd_allowed_domains" => self
                .rng
                .pick(&[
                    json!(["*.example.com"]),
                    json!(["127.0.0.1"]),
                    json!(["https://bad/"]),
                    json!([]),
                    json!(7),
                ])
                .clone(),
            "audienceWhitelist" => self
                .rng
                .pick(&[
                    json!(["http://127.0.0.1:8009/mcp"]),
                    json!(["http://127.0.0.1:8001/mcp"]),
                    json!([]),
                    json!(["not a url"]),
                    json!("x"),
                ])
                .clone(),
            "approvedScopes" => self
                .rng
                .pick(&[
                    json!([{"name": "mcp:read"}]),
                    json!([{"name": ""}]),
                    json!([1]),
                    json!(null),
                ])
                .clone(),
            "sessionSettings" => self
                .rng
                .pick(&[
                    json!({"accessTokenExpiration": {"value": 5, "unit": "minutes"}}),
                    json!({"accessTokenExpiration": {"value": u64::MAX, "unit": "weeks"}}),
                    json!({"refreshTokenExpiration": {"value": 0, "unit": "days"}}),
                    json!({"accessTokenExpiration": {"value": 1, "unit": "eons"}}),
                    json!([]),
                ])
                .clone(),
            "dynamicRegistration" | "cimdSettings" => self
                .rng
                .pick(&[
                    json!({"enabled": true}),
                    json!({"enabled": "yes"}),
                    json!(false),
                ])
                .clone(),
            "server" if path.starts_with("/v1/mgmt/mcp/server/") => self
                .rng
                .pick(&[
                    json!({"id": "MS2calendar", "name": "x"}),
                    json!({"id": 5}),
                    json!("MS2notes"),
                ])
                .clone(),
            "serverId" => s(self.rng.one(&["MS2calendar", "MS2notes", "MS2nope", ""])),
            "consent_ttl" => self
                .rng
                .pick(&[
                    json!(60),
                    json!(0),
                    json!(null),
                    json!(i64::MAX),
                    json!("1"),
                ])
                .clone(),
            "dcr_rate_limit_per_minute" => self
                .rng
                .pick(&[json!(1), json!(0), json!(null), json!(-3), json!(u64::MAX)])
                .clone(),
            "resources" => self
                .rng
                .pick(&[
                    json!(["http://127.0.0.1:8002/mcp"]),
                    json!(["https://nowhere.invalid/mcp"]),
                    json!([]),
                    json!("not-a-list"),
                ])
                .clone(),
            "grant_types" => self
                .rng
                .pick(&[
                    json!(["authorization_code", "refresh_token"]),
                    json!(["client_credentials"]),
                    json!(["implicit"]),
                    json!([]),
                ])
                .clone(),
            "response_type" => s(self.rng.one(&["code", "code", "token"])),
            "response_types" => json!([self.rng.pick(&["code", "token"])]),
            "resource" => s(self
                .rng
                .one(&[RESOURCE, "http://127.0.0.1:8002/mcp", "not a url"])),
            "state" => s("st4te"),
            "project_id" => s(PID),
            "mcp_server_id" | "server" | "servers" => {
                let v = s(self.rng.one(&[SID, SIBLING, "MS2nope"]));
                if field == "servers" { json!([v]) } else { v }
            }
            "token" => {
                let t = match self.rng.chance(70) {
                    true => self.pooled(|p| &p.jwts),
                    false => self.pooled(|p| &p.refresh),
                };
                s(t.unwrap_or_else(|| "opaque".into()))
            }
            "token_type_hint" => s(self.rng.one(&["access_token", "refresh_token", "bogus"])),
            "options" => {
                let mut o = serde_json::Map::new();
                if self.rng.chance(50) {
                    o.insert("withRefreshToken".into(), json!(self.rng.chance(50)));
                }
                if self.rng.chance(50) {
                    o.insert("forceRefresh".into(), json!(self.rng.chance(50)));
                }
                if self.rng.chance(30) {
                    o.insert(
                        "redirectUrl".into(),
                        s(self.rng.one(&["https://app.example.com/cb", "not a url"])),
                    );
                }
                if self.rng.chance(30) {
                    o.insert("scopes".into(), json!(["calendar.readonly"]));
                }
                Value::Object(o)
            }
            "accessToken" => s("mock-upload-fuzz"),
            "accessTokenExpiry" => match self.rng.chance(30) {
                true => s(self.rng.pick(NUMBERS).to_string()),
                false => num(self),
            },
            "accessTokenType" => s("Bearer"),
            "grantedBy" => s("fuzz"),
            "consentId" => s("no-consent"),
            "consentIds" => json!(["no-consent"]),
            "userIds" | "users" => json!(["U2alice"]),
            "token_endpoint_auth_method" => s(self.rng.one(&[
                "none",
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt",
            ])),
            "client_name" | "name" => s(self.rng.one(&["Fuzz", "fuzz-rule", "everyone"])),
            "client_uri" => s("https://client.example.com"),
            "contacts" => json!(["fuzz@example.com"]),
            "id" if path == "/_mock/users" => s(self.rng.one(&["U2fuzz", "U2mallory"])),
            "id" if path == "/_mock/apps" => {
                s(self.rng.one(&["fuzz-app", "google-calendar", "a/b"]))
            }
            "id" if path == "/_mock/clients" => s(self.rng.one(&["fuzz-client", CONF_CLIENT])),
            "id" => s(self
                .pooled(|p| &p.conn_ids)
                .unwrap_or_else(|| "OTnope".into())),
            "login_id" => s(self.rng.one(&["fuzz@example.com", "alice@example.com"])),
            "email" => s("fuzz@example.com"),
            "roles" => json!([self.rng.pick(&["user", "admin"])]),
            "permissions" => json!(["calendar:manage"]),
            "apps" => json!([self.rng.pick(&["google-calendar", "nope-app"])]),
            "type" => s(self.rng.one(&["public", "confidential", "other"])),
            "secret" => s("fuzz-secret"),
            "ttl" | "expires_in" | "access_token_ttl" | "token_ttl" | "offset_secs"
            | "advance_secs" | "since_ms" | "since_seq" | "limit" => num(self),
            "status" => json!(self.rng.pick(&[400, 401, 503, 200, 99, 600, 65535])),
            "delay_ms" => json!(self.rng.pick(&[1, 0, 120_001])),
            "count" => json!(self.rng.pick(&[1_u64, 0, 4_294_967_295, 4_294_967_296])),
            "claims" => {
                let k = self.rng.one(&[
                    "exp", "nbf", "iat", "aud", "iss", "jti", "scope", "sub", "custom",
                ]);
                let mut o = serde_json::Map::new();
                o.insert(k.to_string(), self.evil_json(1));
                Value::Object(o)
            }
            "flaw" => s(self.rng.pick(FLAWS)),
            "remove_claims" => self
                .rng
                .pick(&[json!(["exp"]), json!(["aud", "iss"]), json!(["jti", "sub"])])
                .clone(),
            "jti" => s("jti-fuzz"),
            "kid" => s(self.rng.one(&[
                "SKmockDefault1",
                "SKmockDefault2",
                "SKmockDefault4",
                "SKnope",
            ])),
            "generate" | "dcr" | "cimd" | "require_resource" => json!(self.rng.chance(50)),
            "endpoint" => s(self.rng.pick(&endpoints())),
            "path_prefix" => s(self.rng.one(&["/oauth2/", "/", "/v1/"])),
            "method" => s(self.rng.one(&["GET", "POST", "fuzz"])),
            "url" => s(self.rng.one(&[
                RESOURCE,
                "http://127.0.0.1:9000/mcp",
                "ftp://x/y",
                "not a url",
            ])),
            "audience" => self
                .rng
                .pick(&[
                    json!(["project", "client", "resource"]),
                    json!(["resource"]),
                    json!([]),
                    json!(["bogus"]),
                ])
                .clone(),
            "scope_claims" => s(self.rng.one(&["both", "scope", "scopes", "none"])),
            "path" => s("/oauth2"),
            "credential" => s("basic"),
            _ => s("x"),
        }
    }

    pub(crate) fn evil_string(&mut self) -> String {
        match self.rng.below(17) {
            0 => String::new(),
            1 => " ".into(),
            2 => "\u{0}".into(),
            3 => "%00".into(),
            4 => "../../etc/passwd".into(),
            5 => "x".repeat(self.rng.range(1000, 20_000)),
            6 => "😀🔥\u{202e}RTL\u{fffd}".into(),
            7 => "\"quoted\\".into(),
            8 => "a b\tc\nd\r\n".into(),
            9 => "<script>alert(1)</script>".into(),
            10 => "%ff%fe".into(),
            11 => "null".into(),
            12 => "9223372036854775808".into(),
            13 => {
                let n = self.rng.range(1, 40);
                (0..n)
                    .map(|_| (b' ' + self.rng.below(95) as u8) as char)
                    .collect()
            }
            14 => "https://127.0.0.1:9/cimd.json".into(),
            15 => format!("{PID}:{MGMT_KEY}"),
            _ => "\u{7f}\u{1}\u{1b}[31m".into(),
        }
    }

    pub(crate) fn evil_json(&mut self, depth: usize) -> Value {
        let top = if depth == 0 { 9 } else { 12 };
        match self.rng.below(top) {
            0 => Value::Null,
            1 => json!(self.rng.chance(50)),
            2 => json!(0),
            3 => json!(-1),
            4 => json!(i64::MAX),
            5 => json!(i64::MIN),
            6 => json!(u64::MAX),
            7 => json!(*self.rng.pick(&[1e300, -0.5, 1.5, -1e300, 5e-324])),
            8 => Value::String(self.evil_string()),
            9 => {
                let n = self.rng.below(4);
                Value::Array((0..n).map(|_| self.evil_json(depth - 1)).collect())
            }
            10 => {
                let n = self.rng.below(4);
                let mut o = serde_json::Map::new();
                for _ in 0..n {
                    let k = self.evil_string();
                    let v = self.evil_json(depth - 1);
                    o.insert(k, v);
                }
                Value::Object(o)
            }
            _ => json!([self.evil_string(), self.evil_string()]),
        }
    }

    pub(crate) fn value_text(v: &Value) -> String {
        match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }

    // -- bodies ---------------------------------------------------------------------------------

    pub(crate) fn json_body(&mut self, route: &Route) -> Vec<u8> {
        let object = |g: &mut Self| -> String {
            let fields = g.fields(route);
            let parts: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), v))
                .collect();
            format!("{{{}}}", parts.join(","))
        };
        let text = match self.rng.below(100) {
            // An object (duplicated keys stay duplicated in the text).
            0..=54 => {
                let o = object(self);
                if route.kind == Kind::Rules && self.rng.chance(80) {
                    format!("[{o}]")
                } else {
                    o
                }
            }
            // Truncated.
            55..=62 => {
                let o = object(self);
                let cut = self.rng.below(o.len().max(1));
                let mut end = cut.min(o.len());
                while !o.is_char_boundary(end) {
                    end -= 1;
                }
                o[..end].to_string()
            }
            // Not an object.
            63..=68 => (*self.rng.pick(&[
                "[]", "\"x\"", "1", "null", "true", "[{}]", "{}", "-0", "1e400",
            ]))
            .to_string(),
            // Too deep.
            69..=71 => {
                let d = self.rng.range(100, 400);
                format!("{}{}", "[".repeat(d), "]".repeat(d))
            }
            // Numbers out of every range.
            72..=76 => {
                let f = route.fields.first().copied().unwrap_or("x");
                let lit = self.rng.pick(&[
                    "1e400",
                    "-99999999999999999999999",
                    "18446744073709551616",
                    "1.0",
                    "NaN",
                    "0x10",
                    "+1",
                ]);
                format!("{{\"{f}\": {lit}}}")
            }
            // Invalid UTF-8 and escapes.
            77..=83 => {
                let o = object(self);
                let mut b = o.into_bytes();
                let at = self.rng.below(b.len().max(1));
                let bad: &[u8] = self.rng.pick::<&[u8]>(&[
                    b"\xff".as_slice(),
                    b"\xc3\x28",
                    b"\xed\xa0\x80",
                    b"\xc0\xaf",
                    b"\"\\ud800\"",
                    b"\\u0000",
                ]);
                b.splice(at..at, bad.iter().copied());
                return b;
            }
            84..=87 => String::new(),
            88..=90 => format!("\u{feff}{}", object(self)),
            91..=93 => {
                // A form body where JSON is expected.
                return self.form_body(route);
            }
            _ => {
                let n = self.rng.range(1, 200);
                return self.rng.bytes(n);
            }
        };
        text.into_bytes()
    }

    pub(crate) fn form_body(&mut self, route: &Route) -> Vec<u8> {
        let fields = self.fields(route);
        let mut ser = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &fields {
            ser.append_pair(k, &Self::value_text(v));
        }
        let mut body = ser.finish().into_bytes();
        match self.rng.below(100) {
            0..=59 => {}
            60..=66 => {
                // A repeated parameter.
                if let Some((k, _)) = fields.first() {
                    body.extend_from_slice(format!("&{k}=again").as_bytes());
                }
            }
            67..=72 => {
                let cut = self.rng.below(body.len().max(1));
                body.truncate(cut);
            }
            73..=80 => {
                let bad: &[u8] = self.rng.pick::<&[u8]>(&[
                    b"&%".as_slice(),
                    b"&a=%zz",
                    b"&client_id=%ff%fe",
                    b"&scope=%c3%28",
                    b"&\xff\xfe=\xc3\x28",
                    b"&&&==&=",
                    b"&grant_type",
                    b"&a[]=1&a[]=2",
                    b"&%00=%00",
                ]);
                body.extend_from_slice(bad);
            }
            81..=85 => {
                let at = self.rng.below(body.len().max(1));
                body.splice(at..at, b"\xff\xc0\xaf".iter().copied());
            }
            86..=90 => body = self.json_body_plain(route),
            91..=94 => body.clear(),
            _ => {
                let n = self.rng.range(1, 200);
                body = self.rng.bytes(n);
            }
        }
        body
    }

    /// A JSON object of the route's fields (token endpoints accept JSON too).
    pub(crate) fn json_body_plain(&mut self, route: &Route) -> Vec<u8> {
        let fields = self.fields(route);
        let o: serde_json::Map<String, Value> = fields.into_iter().collect();
        Value::Object(o).to_string().into_bytes()
    }

    /// Bodies `Option<Json<RotateRequest>>` refuses before the handler runs.
    pub(crate) fn refused_rotate_body(&mut self) -> Vec<u8> {
        let b: &[u8] = self.rng.pick::<&[u8]>(&[
            b"{".as_slice(),
            b"{\"generate\": \"yes\"}",
            b"{\"generate\": 1}",
            b"{\"kid\": 5}",
            b"{\"bogus\": true}",
            b"[]",
            b"\xff\xfe",
            b"{\"generate\": true, \"kid\": \"x\", \"extra\": 1}",
            b"1e400",
        ]);
        b.to_vec()
    }

    pub(crate) fn huge(&mut self, mut body: Vec<u8>) -> Vec<u8> {
        let n = self.rng.range(BODY_LIMIT + 1, BODY_LIMIT * 2);
        match self.rng.below(3) {
            // Valid JSON followed by white space.
            0 => body.resize(n, b' '),
            // One enormous value.
            1 => {
                body = format!("{{\"appId\": \"{}\"}}", "a".repeat(n)).into_bytes();
            }
            _ => body = self.rng.bytes(n),
        }
        body
    }

    pub(crate) fn query(&mut self, route: &Route) -> String {
        let fields = self.fields(route);
        let mut ser = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &fields {
            ser.append_pair(k, &Self::value_text(v));
        }
        let mut q = ser.finish();
        if self.rng.chance(15) {
            q.push_str(self.rng.one(&[
                "&%",
                "&a=%zz",
                "&scope=%ff",
                "&limit=-1",
                "&&==",
                "&state=%c3%28",
                "&resource=a&resource=b",
                "&client_id=x&client_id=y",
            ]));
        }
        if q.is_empty() && self.rng.chance(50) {
            String::new()
        } else {
            format!("?{q}")
        }
    }

    pub(crate) fn junk_query(&mut self) -> String {
        let sep = "?";
        let q = self.rng.pick(&[
            "a=1",
            "%ff=%fe",
            "x=%00",
            "=&=&",
            "limit=18446744073709551616",
            "endpoint=token&endpoint=jwks",
            "bogus",
        ]);
        format!("{sep}{q}")
    }

    // -- headers --------------------------------------------------------------------------------

    pub(crate) fn content_type(
        &mut self,
        natural: &str,
        headers: &mut Vec<(HeaderName, HeaderValue)>,
    ) {
        let v: Vec<u8> = match self.rng.below(100) {
            0..=64 => natural.as_bytes().to_vec(),
            65..=72 => return,
            73..=76 => b"text/plain".to_vec(),
            77..=80 => self
                .rng
                .pick(&[
                    "application/json; charset=utf-8",
                    "APPLICATION/JSON",
                    "application/x-www-form-urlencoded; charset=latin1",
                    "application/vnd.api+json",
                    "application/json;;;",
                ])
                .as_bytes()
                .to_vec(),
            81..=86 => {
                if natural == "application/json" {
                    b"application/x-www-form-urlencoded".to_vec()
                } else {
                    b"application/json".to_vec()
                }
            }
            87..=90 => b"multipart/form-data; boundary=----x".to_vec(),
            91..=94 => b"application/\xffjson".to_vec(),
            _ => {
                headers.push((
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                ));
                b"application/x-www-form-urlencoded".to_vec()
            }
        };
        if let Ok(v) = HeaderValue::from_bytes(&v) {
            headers.push((header::CONTENT_TYPE, v));
        }
    }

    pub(crate) fn basic(id: &str, secret: &str) -> Vec<u8> {
        format!("Basic {}", STANDARD.encode(format!("{id}:{secret}"))).into_bytes()
    }

    pub(crate) fn jwt(&mut self) -> String {
        self.pooled(|p| &p.jwts).unwrap_or_else(|| "a.b.c".into())
    }

    pub(crate) fn natural_auth(&mut self, cred: Cred, admin: bool) -> Vec<u8> {
        match cred {
            Cred::Client => match self.rng.below(5) {
                0 | 1 => Self::basic(CONF_CLIENT, CONF_SECRET),
                2 => Self::basic(PUBLIC_CLIENT, ""),
                3 => Self::basic(CONF_CLIENT, "wrong"),
                _ => format!("Bearer {PID}:{MGMT_KEY}").into_bytes(),
            },
            Cred::Mgmt => match self.rng.chance(75) {
                true => format!("Bearer {PID}:{MGMT_KEY}").into_bytes(),
                false => format!("Bearer {PID}:wrong").into_bytes(),
            },
            Cred::Caller => match self.rng.below(4) {
                0 | 1 => format!("Bearer {PID}:{MGMT_KEY}").into_bytes(),
                2 => format!("Bearer {PID}:{}", self.pools.user_jwt).into_bytes(),
                _ => format!("Bearer {PID}:{}", self.jwt()).into_bytes(),
            },
            Cred::Pid => match self.rng.chance(50) {
                true => format!("Bearer {PID}").into_bytes(),
                false => format!("Bearer {PID}:anything").into_bytes(),
            },
            Cred::Access => match self.rng.chance(40) {
                true => format!("Bearer {}", self.pools.user_jwt).into_bytes(),
                false => format!("Bearer {}", self.jwt()).into_bytes(),
            },
            Cred::Connection => match self.pooled(|p| &p.conn_tokens) {
                Some(t) if self.rng.chance(60) => format!("Bearer {t}").into_bytes(),
                _ => format!("Bearer {}", self.pools.user_jwt).into_bytes(),
            },
            Cred::Control if admin => format!("Bearer {ADMIN_TOKEN}").into_bytes(),
            Cred::Control | Cred::None => {
                let other = *self.rng.pick(&[C::Client, C::Mgmt, C::Caller, C::Access]);
                self.natural_auth(other, admin)
            }
        }
    }

    pub(crate) fn evil_auth(&mut self) -> Vec<u8> {
        match self.rng.below(26) {
            0 => b"Basic".to_vec(),
            1 => b"Basic    ".to_vec(),
            2 => b"Basic !!!not-base64!!!".to_vec(),
            3 => format!("Basic {}", STANDARD.encode("nocolon")).into_bytes(),
            4 => format!("Basic {}", STANDARD.encode(b"\xff\xfe:\xc3\x28")).into_bytes(),
            5 => format!("Basic {}", STANDARD.encode("%zz%:%ff")).into_bytes(),
            6 => format!(
                "Basic {}",
                STANDARD.encode(format!("{}:{}", "a".repeat(5000), "b"))
            )
            .into_bytes(),
            7 => format!(
                "basic {}",
                URL_SAFE_NO_PAD.encode("ci-service:ci-service-secret-test-only")
            )
            .into_bytes(),
            8 => b"Bearer".to_vec(),
            9 => b"Bearer ".to_vec(),
            10 => b"Bearer a b".to_vec(),
            11 => format!("Bearer {PID}").into_bytes(),
            12 => format!("Bearer {PID}:").into_bytes(),
            13 => format!("Bearer :{MGMT_KEY}").into_bytes(),
            14 => format!("Bearer P2other:{MGMT_KEY}").into_bytes(),
            15 => b"Bearer x.y.z".to_vec(),
            16 => format!("Bearer {}", "t".repeat(self.rng.range(1000, 16_000))).into_bytes(),
            17 => b"Bearer \xff\xfe\x80".to_vec(),
            18 => b"\xc3\x28 \xff".to_vec(),
            19 => b"Digest username=\"x\"".to_vec(),
            20 => b"Negotiate YII=".to_vec(),
            21 => format!("bEaReR {PID}:{MGMT_KEY}").into_bytes(),
            22 => format!("Bearer {PID}:{}", self.jwt()).into_bytes(),
            23 => format!("Bearer {}", self.jwt()).into_bytes(),
            24 => format!("Bearer {ADMIN_TOKEN}x").into_bytes(),
            _ => b"".to_vec(),
        }
    }

    pub(crate) fn auth(
        &mut self,
        cred: Cred,
        admin: bool,
        headers: &mut Vec<(HeaderName, HeaderValue)>,
    ) {
        let n = match self.rng.below(100) {
            0..=14 => 0,
            15..=92 => 1,
            _ => 2,
        };
        for _ in 0..n {
            let v = if self.rng.chance(60) {
                self.natural_auth(cred, admin)
            } else {
                self.evil_auth()
            };
            if let Ok(v) = HeaderValue::from_bytes(&v) {
                headers.push((header::AUTHORIZATION, v));
            }
        }
    }

    pub(crate) fn extra_headers(&mut self, headers: &mut Vec<(HeaderName, HeaderValue)>) {
        if !self.rng.chance(20) {
            return;
        }
        let (k, v): (&str, &[u8]) = match self.rng.below(if self.listener { 7 } else { 10 }) {
            0 => ("x-fuzz", b"\xff\xfe\x80"),
            1 => ("accept", b"application/xml"),
            2 => ("cookie", b"session=\xc3\x28"),
            3 => ("x-forwarded-host", b"evil.example"),
            4 => ("origin", b"null"),
            5 => ("accept-encoding", b"gzip, br, zstd, \xff"),
            6 => ("x-long", b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
            // In-process only: a real server and client keep these honest.
            7 => ("content-length", b"abc"),
            8 => ("host", b"\xffevil"),
            _ => ("transfer-encoding", b"chunked, gzip"),
        };
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_bytes(v),
        ) {
            headers.push((k, v));
        }
    }
}

//! Descope's Access Control Plane as `mock-as` models it: allow-only rules, least privilege,
//! effective immediately (mock-as/DESCOPE.md §11). One engine serves MCP Server Policies (which
//! scopes a consent grants) and, later, Connections Policies (which connection tokens a user's
//! access token may fetch): a request is a subject plus the thing asked for, and the answer is
//! a [`Decision`] that says which rule allowed it or why nothing did.

use serde::Serialize;

pub use crate::model::Rule;
use crate::model::User;

/// Who is asking.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// User id (`sub`), if a user is involved.
    pub user: Option<&'a str>,
    /// The user's project roles plus tenant roles.
    pub roles: &'a [String],
    /// The OAuth client, if any.
    pub client: Option<&'a str>,
    /// The tenant the request is made in, if any.
    pub tenant: Option<&'a str>,
    /// The outbound app asked for (Connections Policies), if any.
    pub app: Option<&'a str>,
    /// The target resource asked for (Token Exchange Policies), if any.
    pub resource: Option<&'a str>,
}

/// The answer for one item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// Allowed or not.
    pub allowed: bool,
    /// Which rule allowed it, or why none did.
    pub reason: String,
}

impl Rule {
    fn label(&self, i: usize) -> String {
        if self.name.is_empty() {
            format!("rule #{}", i + 1)
        } else {
            format!("rule {:?}", self.name)
        }
    }

    /// Why this rule does not apply to `subject` asking for `item`, or `None` if it allows it.
    fn covers(&self, item: Option<&str>) -> bool {
        match item {
            Some(item) => self.scopes.iter().any(|s| s == "*" || s == item),
            None => true,
        }
    }

    fn mismatch(&self, subject: &Subject<'_>, item: Option<&str>) -> Option<String> {
        if !self.covers(item) {
            return Some(format!("does not cover {:?}", item.unwrap_or_default()));
        }
        if !self.apps.is_empty()
            && !subject
                .app
                .is_some_and(|a| self.apps.iter().any(|x| x == a))
        {
            return Some(format!("is limited to the apps {:?}", self.apps));
        }
        if !self.resources.is_empty()
            && !subject
                .resource
                .is_some_and(|r| self.resources.iter().any(|x| x == r))
        {
            return Some(format!("is limited to the resources {:?}", self.resources));
        }
        if !self.tenants.is_empty()
            && !subject
                .tenant
                .is_some_and(|t| self.tenants.iter().any(|x| x == t))
        {
            return Some(format!("is limited to the tenants {:?}", self.tenants));
        }
        if !self.roles.is_empty() && !self.roles.iter().any(|r| subject.roles.contains(r)) {
            return Some(format!("requires one of the roles {:?}", self.roles));
        }
        if !self.users.is_empty()
            && !subject
                .user
                .is_some_and(|u| self.users.iter().any(|x| x == u))
        {
            return Some(format!("is limited to the users {:?}", self.users));
        }
        if !self.clients.is_empty()
            && !subject
                .client
                .is_some_and(|c| self.clients.iter().any(|x| x == c))
        {
            return Some(format!("is limited to the clients {:?}", self.clients));
        }
        None
    }
}

/// Decide one item (a scope; `None` = the request as a whole) against allow-only `rules`.
/// No rules at all means no policy: allowed.
pub fn decide(rules: &[Rule], subject: &Subject<'_>, item: Option<&str>) -> Decision {
    if rules.is_empty() {
        return Decision {
            allowed: true,
            reason: "no policy configured".into(),
        };
    }
    let mut why = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        match r.mismatch(subject, item) {
            None => {
                return Decision {
                    allowed: true,
                    reason: format!("allowed by {}", r.label(i)),
                };
            }
            // Only rules about this item (and app) explain a denial; the rest are noise.
            Some(m)
                if r.covers(item)
                    && (r.apps.is_empty()
                        || subject.app.is_some_and(|a| r.apps.iter().any(|x| x == a)))
                    && (r.resources.is_empty()
                        || subject
                            .resource
                            .is_some_and(|x| r.resources.iter().any(|y| y == x))) =>
            {
                why.push(format!("{} {m}", r.label(i)))
            }
            Some(_) => {}
        }
    }
    let what = match (item, subject.app) {
        (Some(i), Some(a)) => format!("scope {i:?} of app {a:?}"),
        (Some(i), None) => format!("scope {i:?}"),
        (None, Some(a)) => format!("app {a:?}"),
        (None, None) => "the request".to_string(),
    };
    let reason = if why.is_empty() {
        format!("no rule allows {what} (allow-only policy)")
    } else {
        format!("{what} denied: {}", why.join("; "))
    };
    Decision {
        allowed: false,
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Vec<Rule> {
        vec![
            Rule {
                name: "everyone reads".into(),
                scopes: vec!["read".into()],
                ..Default::default()
            },
            Rule {
                name: "admins".into(),
                scopes: vec!["admin".into()],
                roles: vec!["admin".into()],
                ..Default::default()
            },
        ]
    }

    #[test]
    fn allow_only_least_privilege() {
        let roles = vec!["viewer".to_string()];
        let s = Subject {
            user: Some("U1"),
            roles: &roles,
            client: None,
            tenant: None,
            app: None,
            resource: None,
        };
        assert!(decide(&rules(), &s, Some("read")).allowed);
        let d = decide(&rules(), &s, Some("admin"));
        assert!(!d.allowed);
        assert!(d.reason.contains("admins"), "{}", d.reason);
        let d = decide(&rules(), &s, Some("write"));
        assert!(!d.allowed && d.reason.contains("no rule"), "{}", d.reason);
        let admin = vec!["admin".to_string()];
        let s = Subject {
            user: Some("U1"),
            roles: &admin,
            client: None,
            tenant: None,
            app: None,
            resource: None,
        };
        assert!(decide(&rules(), &s, Some("admin")).allowed);
        assert!(decide(&[], &s, Some("anything")).allowed);
    }
}

/// The roles a policy sees for a user: project roles, plus the roles of `tenant` (or, without a
/// tenant, of every tenant the user belongs to).
pub fn roles_of(user: &User, tenant: Option<&str>) -> Vec<String> {
    let mut roles = user.roles.clone();
    for t in &user.tenants {
        if tenant.is_none_or(|x| x == t.id) {
            roles.extend(t.roles.iter().cloned());
        }
    }
    roles.sort();
    roles.dedup();
    roles
}

#[cfg(test)]
mod connection_rule_tests {
    use super::*;

    #[test]
    fn app_and_tenant_conditions() {
        let r = vec![Rule {
            name: "acme calendar".into(),
            scopes: vec!["*".into()],
            apps: vec!["cal".into()],
            tenants: vec!["T1".into()],
            ..Default::default()
        }];
        let roles: Vec<String> = vec![];
        let s = |tenant, app| Subject {
            user: Some("U1"),
            roles: &roles,
            client: None,
            tenant,
            app,
            resource: None,
        };
        assert!(decide(&r, &s(Some("T1"), Some("cal")), Some("x")).allowed);
        assert!(decide(&r, &s(Some("T1"), Some("cal")), None).allowed);
        let d = decide(&r, &s(Some("T2"), Some("cal")), None);
        assert!(!d.allowed && d.reason.contains("tenants"), "{}", d.reason);
        let d = decide(&r, &s(Some("T1"), Some("mail")), Some("x"));
        assert!(
            !d.allowed && d.reason.contains("no rule allows"),
            "{}",
            d.reason
        );
        // A consent request (no app) never matches an app rule.
        assert!(!decide(&r, &s(Some("T1"), None), Some("x")).allowed);
    }
}

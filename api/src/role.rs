//! Roles and reservations: role names (`eng/backend`, Mesos's hierarchical
//! roles) and [`RoleResources`], resources tagged with the role they are
//! reserved for, in the Mesos text form `cpus:4;cpus(analytics):2`.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::resources::{ResourceError, Resources};

/// The role of frameworks that name none, and the "role" of unreserved
/// resources.
pub const DEFAULT_ROLE: &str = "*";

/// Why a role name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid role {role:?}: {reason}")]
pub struct RoleError {
    /// The name as given.
    pub role: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Checks a role name: `*`, or one or more `/`-separated segments, none of
/// them empty, `.`, `..` or `*`, none starting with `-`, and no whitespace,
/// control characters, backslashes or characters of the resource text form
/// (`(`, `)`, `;`, `:`, `,`, `[`, `]`, `|`). These are Mesos's rules (a role
/// must be usable as a directory name) plus the characters that would make
/// `cpus(role):1` ambiguous.
pub fn validate_role(role: &str) -> Result<(), RoleError> {
    let fail = |reason| {
        Err(RoleError {
            role: role.to_owned(),
            reason,
        })
    };
    if role == DEFAULT_ROLE {
        return Ok(());
    }
    if role.is_empty() {
        return fail("a role name cannot be empty");
    }
    if role.starts_with('/') {
        return fail("a role name cannot start with '/'");
    }
    if role.ends_with('/') {
        return fail("a role name cannot end with '/'");
    }
    if let Some(c) = role
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || "\\();:,[]|".contains(*c))
    {
        return fail(if c.is_whitespace() {
            "a role name cannot contain whitespace"
        } else if c.is_control() {
            "a role name cannot contain control characters"
        } else {
            "a role name cannot contain any of \\ ( ) ; : , [ ] |"
        });
    }
    for segment in role.split('/') {
        match segment {
            "" => return fail("a role name cannot contain an empty segment ('//')"),
            "." | ".." => return fail("a role segment cannot be '.' or '..'"),
            "*" => return fail("'*' cannot be part of a hierarchical role"),
            s if s.starts_with('-') => return fail("a role segment cannot start with '-'"),
            _ => {}
        }
    }
    Ok(())
}

/// The parent of a hierarchical role (`eng` for `eng/backend`), `None` for a
/// top-level role. The name is not validated.
pub fn parent_role(role: &str) -> Option<&str> {
    role.rsplit_once('/').map(|(parent, _)| parent)
}

/// True when `role` is `ancestor` or lies below it (`eng/backend/db` is in
/// `eng`; `engineering` is not). Names are not validated.
pub fn role_is_within(role: &str, ancestor: &str) -> bool {
    role == ancestor
        || (role.len() > ancestor.len()
            && role.starts_with(ancestor)
            && role.as_bytes()[ancestor.len()] == b'/')
}

/// Resources some of which are reserved for roles: an unreserved part and,
/// by role, the parts reserved for it. Mesos's text form tags reserved
/// amounts with the role in parentheses: `cpus:8;cpus(analytics):4;mem(analytics):4096`
/// (`cpus(*):8` is unreserved).
///
/// Reserved parts are never empty and never for `*`, so two bundles are equal
/// exactly when they hold the same amounts under the same tags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleResources {
    unreserved: Resources,
    reserved: BTreeMap<String, Resources>,
}

impl RoleResources {
    /// An empty bundle.
    pub fn new() -> Self {
        Self::default()
    }

    /// The unreserved part.
    pub fn unreserved(&self) -> &Resources {
        &self.unreserved
    }

    /// The reserved parts, by role, in role-name order.
    pub fn reserved(&self) -> impl Iterator<Item = (&str, &Resources)> {
        self.reserved.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// What is reserved for exactly `role` (not its descendants).
    pub fn reservation(&self, role: &str) -> Option<&Resources> {
        self.reserved.get(role)
    }

    /// Adds unreserved resources.
    pub fn add_unreserved(&mut self, resources: &Resources) {
        self.unreserved.add(resources);
    }

    /// Adds resources reserved for `role` (`*` adds unreserved ones).
    pub fn add_reserved(&mut self, role: &str, resources: &Resources) -> Result<(), RoleError> {
        validate_role(role)?;
        if role == DEFAULT_ROLE {
            self.unreserved.add(resources);
        } else if !resources.is_empty() {
            self.reserved
                .entry(role.to_owned())
                .or_default()
                .add(resources);
        }
        Ok(())
    }

    /// Builder form of [`RoleResources::add_reserved`].
    pub fn with_reserved(mut self, role: &str, resources: &Resources) -> Result<Self, RoleError> {
        self.add_reserved(role, resources)?;
        Ok(self)
    }

    /// Everything, reserved or not, as one bundle.
    pub fn total(&self) -> Resources {
        let mut total = self.unreserved.clone();
        for r in self.reserved.values() {
            total.add(r);
        }
        total
    }

    /// True when the bundle holds nothing.
    pub fn is_empty(&self) -> bool {
        self.unreserved.is_empty() && self.reserved.is_empty()
    }

    /// True when every tagged amount of `other` is available in `self` under
    /// the same tag.
    pub fn contains(&self, other: &RoleResources) -> bool {
        self.unreserved.contains(&other.unreserved)
            && other
                .reserved
                .iter()
                .all(|(role, r)| self.reserved.get(role).is_some_and(|mine| mine.contains(r)))
    }

    /// Adds every tagged amount of `other`.
    pub fn add(&mut self, other: &RoleResources) {
        self.unreserved.add(&other.unreserved);
        for (role, r) in &other.reserved {
            self.reserved.entry(role.clone()).or_default().add(r);
        }
    }

    /// Removes every tagged amount of `other`, flooring at zero.
    pub fn subtract(&mut self, other: &RoleResources) {
        self.unreserved.subtract(&other.unreserved);
        for (role, r) in &other.reserved {
            if let Some(mine) = self.reserved.get_mut(role) {
                mine.subtract(r);
            }
        }
        self.reserved.retain(|_, r| !r.is_empty());
    }
}

impl From<Resources> for RoleResources {
    /// All of `resources`, unreserved.
    fn from(resources: Resources) -> Self {
        Self {
            unreserved: resources,
            reserved: BTreeMap::new(),
        }
    }
}

impl fmt::Display for RoleResources {
    /// The unreserved items, then each role's items tagged `name(role)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut items: Vec<String> = Vec::new();
        let mut push = |r: &Resources, role: Option<&str>| {
            let text = r.to_string();
            for item in text.split(';').filter(|i| !i.is_empty()) {
                match (role, item.split_once(':')) {
                    (Some(role), Some((name, value))) => {
                        items.push(format!("{name}({role}):{value}"))
                    }
                    _ => items.push(item.to_owned()),
                }
            }
        };
        push(&self.unreserved, None);
        for (role, r) in &self.reserved {
            push(r, Some(role));
        }
        f.write_str(&items.join(";"))
    }
}

impl FromStr for RoleResources {
    type Err = ResourceError;

    /// Parses the Mesos text form with optional role tags:
    /// `cpus:8;cpus(analytics):4;ports(web):[80-80]`. Untagged items and
    /// `name(*)` are unreserved; a tag must be a valid role name.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = RoleResources::new();
        for item in s.split(';').map(str::trim).filter(|i| !i.is_empty()) {
            let err = |reason: String| ResourceError::Parse {
                item: item.to_owned(),
                reason,
            };
            let (name, value) = item
                .split_once(':')
                .ok_or_else(|| err("expected name:value".to_owned()))?;
            let (name, role) = match name.trim().split_once('(') {
                Some((n, rest)) => {
                    let role = rest
                        .strip_suffix(')')
                        .ok_or_else(|| err("unterminated role tag".to_owned()))?;
                    (n.trim(), role.trim())
                }
                None => (name.trim(), DEFAULT_ROLE),
            };
            let resources: Resources = format!("{name}:{value}").parse()?;
            out.add_reserved(role, &resources)
                .map_err(|e| err(e.to_string()))?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_follow_mesos_rules() {
        for good in ["*", "eng", "eng/backend", "a-b/c_d/e.f", "x/y/z/w"] {
            assert_eq!(validate_role(good), Ok(()), "{good}");
        }
        for (bad, why) in [
            ("", "empty"),
            ("/eng", "start with '/'"),
            ("eng/", "end with '/'"),
            ("eng//backend", "empty segment"),
            (".", "'.' or '..'"),
            ("eng/..", "'.' or '..'"),
            ("eng/./x", "'.' or '..'"),
            ("my role", "whitespace"),
            ("eng\tx", "whitespace"),
            ("*/x", "'*' cannot be part"),
            ("eng/*", "'*' cannot be part"),
            ("-eng", "start with '-'"),
            ("a(b)", "cannot contain"),
            ("a\\b", "cannot contain"),
        ] {
            let e = validate_role(bad).unwrap_err();
            assert!(e.to_string().contains(why), "{bad:?}: {e}");
            assert!(e.to_string().starts_with("invalid role"), "{e}");
        }
    }

    #[test]
    fn hierarchy_helpers() {
        assert_eq!(parent_role("eng/backend/db"), Some("eng/backend"));
        assert_eq!(parent_role("eng"), None);
        assert!(role_is_within("eng/backend", "eng"));
        assert!(role_is_within("eng", "eng"));
        assert!(!role_is_within("engineering", "eng"));
        assert!(!role_is_within("eng", "eng/backend"));
    }

    #[test]
    fn text_form_with_role_tags_round_trips() {
        let r: RoleResources =
            "cpus:8;cpus(analytics):4;mem(analytics):4096;mem(*):100;ports(web):[80-81]"
                .parse()
                .unwrap();
        assert_eq!(r.unreserved(), &"cpus:8;mem:100".parse().unwrap());
        assert_eq!(
            r.reservation("analytics"),
            Some(&"cpus:4;mem:4096".parse().unwrap())
        );
        assert_eq!(
            r.to_string(),
            "cpus:8;mem:100;cpus(analytics):4;mem(analytics):4096;ports(web):[80-81]"
        );
        assert_eq!(r.to_string().parse::<RoleResources>().unwrap(), r);
        assert_eq!(r.total(), "cpus:12;mem:4196;ports:[80-81]".parse().unwrap());
    }

    #[test]
    fn bad_tags_are_refused_with_the_item_named() {
        for bad in ["cpus(a//b):1", "cpus(eng:1", "cpus( ):1", "cpus(eng):-1"] {
            let e = bad.parse::<RoleResources>().unwrap_err();
            assert!(e.to_string().contains("invalid resource"), "{bad}: {e}");
        }
    }

    #[test]
    fn arithmetic_keeps_tags_apart() {
        let mut a: RoleResources = "cpus:2;cpus(eng):2".parse().unwrap();
        let b: RoleResources = "cpus(eng):1".parse().unwrap();
        assert!(a.contains(&b));
        assert!(!a.contains(&"cpus(ml):1".parse().unwrap()));
        a.subtract(&b);
        assert_eq!(a.to_string(), "cpus:2;cpus(eng):1");
        a.subtract(&b);
        assert_eq!(a.to_string(), "cpus:2");
        a.add(&b);
        assert_eq!(a, "cpus:2;cpus(eng):1".parse().unwrap());
    }
}

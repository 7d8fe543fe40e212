//! Marathon path ids: `/group/sub/app`, segments of lower-case letters, digits, `-` and `.`.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An absolute, normalised path id. The root group is the empty path (`/`).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PathId(Vec<String>);

impl PathId {
    /// The root group `/`.
    pub fn root() -> Self {
        PathId(Vec::new())
    }

    /// Parses `s`, absolute (`/a/b`) or relative to `base` (`b`, `../c`). Repeated slashes
    /// collapse. The error names the bad segment.
    pub fn parse(s: &str, base: &PathId) -> Result<PathId, String> {
        let mut out = if s.starts_with('/') {
            Vec::new()
        } else {
            base.0.clone()
        };
        for seg in s.split('/').filter(|s| !s.is_empty()) {
            match seg {
                "." => {}
                ".." => {
                    if out.pop().is_none() {
                        return Err(format!("path {s:?} goes above the root"));
                    }
                }
                seg => {
                    if !valid_segment(seg) {
                        return Err(format!(
                            "path contains invalid characters (allowed: lowercase letters, digits, hyphens, \".\", \"..\"): {s:?}"
                        ));
                    }
                    out.push(seg.to_owned());
                }
            }
        }
        Ok(PathId(out))
    }

    /// Parses an absolute id (relative ids are taken from the root).
    pub fn absolute(s: &str) -> Result<PathId, String> {
        Self::parse(s, &PathId::root())
    }

    /// Whether this is the root group.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// The enclosing group (the root's parent is the root).
    pub fn parent(&self) -> PathId {
        let mut p = self.0.clone();
        p.pop();
        PathId(p)
    }

    /// Whether `self` is `other` or inside it.
    pub fn is_within(&self, other: &PathId) -> bool {
        self.0.starts_with(&other.0)
    }

    /// The segments.
    pub fn segments(&self) -> &[String] {
        &self.0
    }

    /// A child path.
    pub fn child(&self, name: &str) -> PathId {
        let mut p = self.0.clone();
        p.push(name.to_owned());
        PathId(p)
    }

    /// The id as one store key segment: `group:app` (`:` never occurs in ids; the root is `_`).
    pub fn store_key(&self) -> String {
        if self.0.is_empty() {
            "_".into()
        } else {
            self.0.join(":")
        }
    }

    /// Reads [`PathId::store_key`] back.
    pub fn from_store_key(key: &str) -> Option<PathId> {
        if key == "_" {
            return Some(PathId::root());
        }
        let segs: Vec<String> = key.split(':').map(str::to_owned).collect();
        segs.iter()
            .all(|s| valid_segment(s))
            .then_some(PathId(segs))
    }

    /// The prefix of task ids for this app: `group_app` (Marathon's form).
    pub fn task_prefix(&self) -> String {
        self.0.join("_")
    }
}

fn valid_segment(seg: &str) -> bool {
    seg.split('.').all(|label| {
        !label.is_empty()
            && label
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    })
}

impl fmt::Display for PathId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}", self.0.join("/"))
    }
}

impl fmt::Debug for PathId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl Serialize for PathId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for PathId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        PathId::absolute(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_absolute_relative_and_dotted_paths() {
        let base = PathId::absolute("/prod/web").unwrap();
        assert_eq!(PathId::absolute("//web").unwrap().to_string(), "/web");
        assert_eq!(
            PathId::parse("db", &base).unwrap().to_string(),
            "/prod/web/db"
        );
        assert_eq!(
            PathId::parse("../db", &base).unwrap().to_string(),
            "/prod/db"
        );
        assert_eq!(
            PathId::parse("/a.b/c-d", &base).unwrap().to_string(),
            "/a.b/c-d"
        );
        assert!(PathId::absolute("/Web").is_err());
        assert!(PathId::absolute("/a_b").is_err());
        assert!(PathId::absolute("/-a").is_err());
        assert!(PathId::absolute("/..").is_err());
        assert!(PathId::absolute("/").unwrap().is_root());
    }

    #[test]
    fn store_keys_and_task_prefixes() {
        let id = PathId::absolute("/prod/web.v2").unwrap();
        assert_eq!(id.store_key(), "prod:web.v2");
        assert_eq!(PathId::from_store_key("prod:web.v2"), Some(id.clone()));
        assert_eq!(id.task_prefix(), "prod_web.v2");
        assert!(id.is_within(&PathId::absolute("/prod").unwrap()));
        assert!(!id.is_within(&PathId::absolute("/pro").unwrap()));
    }
}

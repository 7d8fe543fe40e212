//! Key and value rules shared by every backend, so that both reject exactly the same input.

use crate::{Error, Result, MAX_VALUE_LEN};

/// Keys longer than this are refused: ZooKeeper paths and redb keys both stay small.
const MAX_KEY_LEN: usize = 1024;

/// Checks the key rules documented on [`Store`](crate::Store).
pub(crate) fn validate_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::invalid_key(key, "keys must not be empty"));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(Error::invalid_key(
            key,
            format!("keys must be at most {MAX_KEY_LEN} bytes"),
        ));
    }
    for segment in key.split('/') {
        if segment.is_empty() {
            return Err(Error::invalid_key(
                key,
                "empty path segment (leading, trailing or doubled '/')",
            ));
        }
        // ZooKeeper reserves the relative names "." and "..", so no backend accepts them.
        if segment == "." || segment == ".." {
            return Err(Error::invalid_key(
                key,
                format!("segment {segment:?} is reserved"),
            ));
        }
        if let Some(bad) = segment.chars().find(|c| !is_key_char(*c)) {
            return Err(Error::invalid_key(
                key,
                format!("character {bad:?} is not allowed (use A-Z a-z 0-9 . _ : -)"),
            ));
        }
    }
    Ok(())
}

pub(crate) fn validate_value(key: &str, value: &[u8]) -> Result<()> {
    if value.len() > MAX_VALUE_LEN {
        return Err(Error::ValueTooLarge {
            key: key.to_string(),
            len: value.len(),
        });
    }
    Ok(())
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-')
}

#[cfg(test)]
mod tests {
    use super::validate_key;

    #[test]
    fn accepts_path_keys() {
        for key in ["a", "master/frameworks/abc-0001", "k8s/pods/ns:x/p_1.2"] {
            validate_key(key).unwrap_or_else(|e| panic!("{key}: {e}"));
        }
    }

    #[test]
    fn rejects_bad_keys() {
        for key in ["", "/a", "a/", "a//b", "a b", "a/./b", "..", "é", "a\0"] {
            assert!(validate_key(key).is_err(), "{key:?} was accepted");
        }
        assert!(validate_key(&"x".repeat(1025)).is_err());
    }
}

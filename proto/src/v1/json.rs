//! Serde helpers that give the generated messages Mesos's JSON mapping:
//! enums by name (numbers accepted too), bytes as base64.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serializer};

/// Names for a Mesos enum, implemented by the generated enums.
pub trait MesosEnum {
    /// True when an unknown name should read as value 0 (the enum's UNKNOWN)
    /// instead of failing: used for capability and type lists that newer
    /// clients may extend.
    const LENIENT: bool;
    /// The wire name of a value.
    fn name_of(value: i32) -> Option<&'static str>;
    /// The value of a wire name.
    fn value_of(name: &str) -> Option<i32>;
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NameOrNumber {
    Name(String),
    Number(i32),
}

fn resolve<E: MesosEnum, Err: de::Error>(v: NameOrNumber) -> Result<i32, Err> {
    match v {
        NameOrNumber::Number(n) => Ok(n),
        NameOrNumber::Name(s) => match E::value_of(&s) {
            Some(n) => Ok(n),
            None if E::LENIENT => Ok(0),
            None => Err(Err::custom(format!("unknown enum value {s:?}"))),
        },
    }
}

/// Serializes a required enum field by name.
pub fn ser_enum<E: MesosEnum, S: Serializer>(v: &i32, s: S) -> Result<S::Ok, S::Error> {
    match E::name_of(*v) {
        Some(name) => s.serialize_str(name),
        None => s.serialize_i32(*v),
    }
}

/// Deserializes a required enum field from its name or number.
pub fn de_enum<'de, E: MesosEnum, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
    resolve::<E, D::Error>(NameOrNumber::deserialize(d)?)
}

/// Serializes an optional enum field by name.
pub fn ser_enum_opt<E: MesosEnum, S: Serializer>(v: &Option<i32>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => ser_enum::<E, S>(v, s),
        None => s.serialize_none(),
    }
}

/// Deserializes an optional enum field from its name or number (null reads as absent).
pub fn de_enum_opt<'de, E: MesosEnum, D: Deserializer<'de>>(d: D) -> Result<Option<i32>, D::Error> {
    match Option::<NameOrNumber>::deserialize(d)? {
        Some(v) => resolve::<E, D::Error>(v).map(Some),
        None => Ok(None),
    }
}

/// Base64 for a required `bytes` field.
pub mod bytes_req {
    use super::*;

    /// Serializes bytes as standard base64.
    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(v))
    }

    /// Deserializes standard base64 into bytes.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        B64.decode(s.as_bytes())
            .map_err(|e| de::Error::custom(format!("invalid base64: {e}")))
    }
}

/// Base64 for an optional `bytes` field.
pub mod bytes_opt {
    use super::*;

    /// Serializes bytes as standard base64.
    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_str(&B64.encode(v)),
            None => s.serialize_none(),
        }
    }

    /// Deserializes standard base64 into bytes (null reads as absent).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(s) => B64
                .decode(s.as_bytes())
                .map(Some)
                .map_err(|e| de::Error::custom(format!("invalid base64: {e}"))),
            None => Ok(None),
        }
    }
}

/// Serializes a message as compact JSON with every non-ASCII character
/// escaped, so that a RecordIO length counted in bytes equals one counted in
/// characters (some clients split the stream on text lines).
pub fn to_ascii_json<T: serde::Serialize>(v: &T) -> Vec<u8> {
    let s = serde_json::to_string(v).expect("generated messages always serialize");
    if s.is_ascii() {
        return s.into_bytes();
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut buf = [0u16; 2];
            for unit in c.encode_utf16(&mut buf) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out.into_bytes()
}

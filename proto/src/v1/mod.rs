//! The Mesos v1 public API: scheduler, executor and shared messages.

pub mod json;
mod messages;

pub use messages::*;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// The two body encodings the v1 HTTP APIs accept and produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `application/json`
    Json,
    /// `application/x-protobuf`
    Protobuf,
}

impl Encoding {
    /// The MIME type of this encoding.
    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Json => "application/json",
            Encoding::Protobuf => "application/x-protobuf",
        }
    }

    /// Reads a `Content-Type` or `Accept` header value. `None` when the value
    /// names neither encoding.
    pub fn from_header(value: &str) -> Option<Encoding> {
        let v = value.to_ascii_lowercase();
        if v.contains("application/x-protobuf") {
            Some(Encoding::Protobuf)
        } else if v.contains("application/json") || v.contains("*/*") || v.trim().is_empty() {
            Some(Encoding::Json)
        } else {
            None
        }
    }

    /// Encodes a message.
    pub fn encode<T: prost::Message + Serialize>(self, msg: &T) -> Vec<u8> {
        match self {
            Encoding::Json => json::to_ascii_json(msg),
            Encoding::Protobuf => msg.encode_to_vec(),
        }
    }

    /// Decodes a message, with an error text that names the problem.
    pub fn decode<T: prost::Message + Default + DeserializeOwned>(
        self,
        body: &[u8],
    ) -> Result<T, String> {
        match self {
            Encoding::Json => {
                serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))
            }
            Encoding::Protobuf => T::decode(body).map_err(|e| format!("invalid protobuf: {e}")),
        }
    }
}

/// Lets a message be read back from any encoding in tests and tools.
pub fn decode_any<T: prost::Message + Default + DeserializeOwned>(
    encoding: Encoding,
    body: &[u8],
) -> Result<T, String> {
    encoding.decode(body)
}

impl TaskStatus {
    /// The state as a domain value (`TaskState::Unknown` for values Strata does not know).
    pub fn task_state(&self) -> strata_api::TaskState {
        crate::convert::task_state_from_wire(self.state)
    }
}

/// Shorthand for an id message.
pub fn framework_id(s: &str) -> FrameworkId {
    FrameworkId {
        value: s.to_owned(),
    }
}
/// Shorthand for an id message.
pub fn agent_id(s: &str) -> AgentId {
    AgentId {
        value: s.to_owned(),
    }
}
/// Shorthand for an id message.
pub fn task_id(s: &str) -> TaskId {
    TaskId {
        value: s.to_owned(),
    }
}
/// Shorthand for an id message.
pub fn offer_id(s: &str) -> OfferId {
    OfferId {
        value: s.to_owned(),
    }
}
/// Shorthand for an id message.
pub fn executor_id(s: &str) -> ExecutorId {
    ExecutorId {
        value: s.to_owned(),
    }
}

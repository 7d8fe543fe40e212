//! Opaque identifiers. Each is a newtype over `String` so that an agent id can
//! never be passed where a task id is expected.

use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub String);

        impl $name {
            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }
    };
}

id_type!(
    /// An agent's id, assigned by the master at first registration and kept
    /// across re-registrations.
    AgentId
);
id_type!(
    /// A framework's id, assigned by the master at first SUBSCRIBE.
    FrameworkId
);
id_type!(
    /// An offer's id, unique for the life of the master.
    OfferId
);
id_type!(
    /// A task's id, chosen by its framework; unique within that framework.
    TaskId
);
id_type!(
    /// An executor's id, chosen by the framework (or equal to the task id for
    /// command tasks).
    ExecutorId
);

//! End-to-end suites: each test starts its own cluster of real `strata` processes.
//!
//! Build the binary first (`cargo build -p strata`) and the pymesos venv
//! (`scripts/setup-python.sh`); `scripts/test.sh` does both, then runs everything.

mod bad_input;
mod cgroups;
mod docker;
mod ha;
mod operator;
mod pymesos;
mod recovery;
mod reservations;
mod sim_agents;
mod ui;

use serde_json::Value;

/// Every object anywhere inside `value` that has the key `key`.
pub fn objects_with_key<'a>(
    value: &'a Value,
    key: &str,
) -> Vec<&'a serde_json::Map<String, Value>> {
    let mut found = Vec::new();
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(map) => {
                if map.contains_key(key) {
                    found.push(map);
                }
                stack.extend(map.values());
            }
            Value::Array(items) => stack.extend(items.iter()),
            _ => {}
        }
    }
    found
}

/// A JSON number as f64, or a panic naming what was expected.
pub fn number(value: &Value, what: &str) -> f64 {
    value
        .as_f64()
        .unwrap_or_else(|| panic!("{what} should be a number, got {value}"))
}

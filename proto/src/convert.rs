//! Conversions between the wire messages and `strata-api` domain types.

use strata_api::{Range, Resources, TaskState};

use crate::v1;

/// The wire value of a task state (Mesos's numbering).
pub fn task_state_to_wire(s: TaskState) -> i32 {
    let v = match s {
        TaskState::Staging => v1::TaskState::TaskStaging,
        TaskState::Starting => v1::TaskState::TaskStarting,
        TaskState::Running => v1::TaskState::TaskRunning,
        TaskState::Killing => v1::TaskState::TaskKilling,
        TaskState::Finished => v1::TaskState::TaskFinished,
        TaskState::Failed => v1::TaskState::TaskFailed,
        TaskState::Killed => v1::TaskState::TaskKilled,
        TaskState::Error => v1::TaskState::TaskError,
        TaskState::Lost => v1::TaskState::TaskLost,
        TaskState::Dropped => v1::TaskState::TaskDropped,
        TaskState::Unreachable => v1::TaskState::TaskUnreachable,
        TaskState::Gone => v1::TaskState::TaskGone,
        TaskState::GoneByOperator => v1::TaskState::TaskGoneByOperator,
        TaskState::Unknown => v1::TaskState::TaskUnknown,
    };
    v as i32
}

/// The domain state of a wire value; values Strata does not know read as `Unknown`.
pub fn task_state_from_wire(v: i32) -> TaskState {
    use v1::TaskState as W;
    match W::try_from(v) {
        Ok(W::TaskStaging) => TaskState::Staging,
        Ok(W::TaskStarting) => TaskState::Starting,
        Ok(W::TaskRunning) => TaskState::Running,
        Ok(W::TaskKilling) => TaskState::Killing,
        Ok(W::TaskFinished) => TaskState::Finished,
        Ok(W::TaskFailed) => TaskState::Failed,
        Ok(W::TaskKilled) => TaskState::Killed,
        Ok(W::TaskError) => TaskState::Error,
        Ok(W::TaskLost) => TaskState::Lost,
        Ok(W::TaskDropped) => TaskState::Dropped,
        Ok(W::TaskUnreachable) => TaskState::Unreachable,
        Ok(W::TaskGone) => TaskState::Gone,
        Ok(W::TaskGoneByOperator) => TaskState::GoneByOperator,
        Ok(W::TaskUnknown) | Err(_) => TaskState::Unknown,
    }
}

/// Why a list of wire resources could not become a [`Resources`] bundle.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ResourceConversionError {
    /// A resource had a type Strata does not account (SET, TEXT).
    #[error("resource {0:?} has unsupported type {1}")]
    UnsupportedType(String, String),
    /// A scalar resource had no value, or a negative or non-finite one.
    #[error("resource {0:?} has an invalid scalar value")]
    BadScalar(String),
    /// A ranges resource had a range whose begin is after its end.
    #[error("resource {0:?} has a range whose begin is after its end")]
    BadRange(String),
    /// A role other than `*` was named (reservations are not supported yet).
    #[error("resource {0:?} names role {1:?}; only the default role '*' is supported")]
    UnsupportedRole(String, String),
}

/// Reads wire resources into a bundle, refusing what cannot be accounted.
pub fn resources_from_wire(list: &[v1::Resource]) -> Result<Resources, ResourceConversionError> {
    let mut out = Resources::new();
    for r in list {
        if let Some(role) = r
            .role
            .as_deref()
            .filter(|role| *role != "*" && !role.is_empty())
        {
            return Err(ResourceConversionError::UnsupportedRole(
                r.name.clone(),
                role.to_owned(),
            ));
        }
        match v1::ValueType::try_from(r.r#type) {
            Ok(v1::ValueType::Scalar) => {
                let v = r.scalar.as_ref().map(|s| s.value).unwrap_or(f64::NAN);
                if !v.is_finite() || v < 0.0 {
                    return Err(ResourceConversionError::BadScalar(r.name.clone()));
                }
                out.add_scalar(&r.name, v);
            }
            Ok(v1::ValueType::Ranges) => {
                for range in r.ranges.iter().flat_map(|rs| rs.range.iter()) {
                    if range.begin > range.end {
                        return Err(ResourceConversionError::BadRange(r.name.clone()));
                    }
                    out.add_range(
                        &r.name,
                        Range {
                            begin: range.begin,
                            end: range.end,
                        },
                    );
                }
            }
            Ok(other) => {
                return Err(ResourceConversionError::UnsupportedType(
                    r.name.clone(),
                    format!("{other:?}").to_uppercase(),
                ))
            }
            Err(_) => {
                return Err(ResourceConversionError::UnsupportedType(
                    r.name.clone(),
                    r.r#type.to_string(),
                ))
            }
        }
    }
    Ok(out)
}

/// Writes a bundle as wire resources in the default role `*`, with
/// `allocation_info.role = "*"` as Mesos puts on offered resources.
pub fn resources_to_wire(res: &Resources) -> Vec<v1::Resource> {
    let mut out = Vec::new();
    for (name, value) in res.scalars() {
        out.push(v1::Resource {
            name: name.to_owned(),
            r#type: v1::ValueType::Scalar as i32,
            scalar: Some(v1::ValueScalar { value }),
            role: Some("*".to_owned()),
            allocation_info: Some(v1::AllocationInfo {
                role: Some("*".to_owned()),
            }),
            ..Default::default()
        });
    }
    for (name, set) in res.range_sets() {
        out.push(v1::Resource {
            name: name.to_owned(),
            r#type: v1::ValueType::Ranges as i32,
            ranges: Some(v1::ValueRanges {
                range: set
                    .ranges()
                    .iter()
                    .map(|r| v1::ValueRange {
                        begin: r.begin,
                        end: r.end,
                    })
                    .collect(),
            }),
            role: Some("*".to_owned()),
            allocation_info: Some(v1::AllocationInfo {
                role: Some("*".to_owned()),
            }),
            ..Default::default()
        });
    }
    out
}

/// Parses agent attributes in Mesos's text form `rack:r1;zone:a;level:3`.
/// Numbers become SCALAR attributes, `[a-b]` RANGES, anything else TEXT.
pub fn parse_attributes(s: &str) -> Result<Vec<v1::Attribute>, String> {
    let mut out = Vec::new();
    for item in s.split(';').map(str::trim).filter(|i| !i.is_empty()) {
        let (name, value) = item
            .split_once(':')
            .ok_or_else(|| format!("invalid attribute {item:?}: expected name:value"))?;
        let (name, value) = (name.trim().to_owned(), value.trim());
        if name.is_empty() {
            return Err(format!("invalid attribute {item:?}: empty name"));
        }
        let attr = if let Ok(n) = value.parse::<f64>() {
            v1::Attribute {
                name,
                r#type: v1::ValueType::Scalar as i32,
                scalar: Some(v1::ValueScalar { value: n }),
                ..Default::default()
            }
        } else if let Ok(res) = format!("x:{value}").parse::<Resources>() {
            match res.range_set("x") {
                Some(set) if value.starts_with('[') => v1::Attribute {
                    name,
                    r#type: v1::ValueType::Ranges as i32,
                    ranges: Some(v1::ValueRanges {
                        range: set
                            .ranges()
                            .iter()
                            .map(|r| v1::ValueRange {
                                begin: r.begin,
                                end: r.end,
                            })
                            .collect(),
                    }),
                    ..Default::default()
                },
                _ => text_attr(name, value),
            }
        } else {
            text_attr(name, value)
        };
        out.push(attr);
    }
    Ok(out)
}

fn text_attr(name: String, value: &str) -> v1::Attribute {
    v1::Attribute {
        name,
        r#type: v1::ValueType::Text as i32,
        text: Some(v1::ValueText {
            value: value.to_owned(),
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_round_trip_through_the_wire() {
        let r: Resources = "cpus:2.5;mem:1024;ports:[31000-31010,31020-31020]"
            .parse()
            .unwrap();
        assert_eq!(resources_from_wire(&resources_to_wire(&r)).unwrap(), r);
    }

    #[test]
    fn states_round_trip_through_the_wire() {
        for s in TaskState::ALL {
            assert_eq!(task_state_from_wire(task_state_to_wire(s)), s);
        }
    }

    #[test]
    fn bad_resources_are_named() {
        let bad = v1::Resource {
            name: "cpus".into(),
            r#type: v1::ValueType::Scalar as i32,
            scalar: Some(v1::ValueScalar { value: -1.0 }),
            ..Default::default()
        };
        let e = resources_from_wire(&[bad]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "resource \"cpus\" has an invalid scalar value"
        );
    }

    #[test]
    fn attributes_parse_by_kind() {
        let a = parse_attributes("rack:r1;level:3;ids:[1-4]").unwrap();
        assert_eq!(a[0].text.as_ref().unwrap().value, "r1");
        assert_eq!(a[1].scalar.as_ref().unwrap().value, 3.0);
        assert_eq!(a[2].ranges.as_ref().unwrap().range[0].end, 4);
    }
}

/// Resources in the JSON shape of Mesos's operator endpoints (`/state`,
/// `/master/state`): scalars as numbers (cpus, mem, disk and gpus always
/// present), range sets as `"[a-b,c-d]"`.
pub fn resources_json(r: &Resources) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for k in ["cpus", "mem", "disk", "gpus"] {
        m.insert(k.into(), serde_json::json!(r.scalar(k)));
    }
    for (k, v) in r.scalars() {
        m.insert(k.into(), serde_json::json!(v));
    }
    for (k, set) in r.range_sets() {
        let parts: Vec<String> = set
            .ranges()
            .iter()
            .map(|x| format!("{}-{}", x.begin, x.end))
            .collect();
        m.insert(
            k.into(),
            serde_json::json!(format!("[{}]", parts.join(","))),
        );
    }
    serde_json::Value::Object(m)
}

//! Conversions between the wire messages and `strata-api` domain types.

use strata_api::{
    DetailedResources, Label, Persistence, Range, Reservation, ReservationType, ResourceKind,
    Resources, TaskState, DEFAULT_ROLE,
};

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
    /// A reserved resource where only unreserved ones are accepted.
    #[error(
        "resource {0:?} is reserved for role {1:?}; only unreserved resources are accepted here"
    )]
    UnsupportedRole(String, String),
    /// A reservation names a role that is not a valid role name.
    #[error("resource {0:?}: {1}")]
    InvalidRole(String, String),
    /// A reservation is malformed (no role, no type, for `*`, or `role`
    /// and `reservations` disagree).
    #[error("resource {0:?} has an invalid reservation: {1}")]
    BadReservation(String, String),
    /// More than one reservation: a refined reservation (a reservation for a
    /// role within resources reserved for its ancestor).
    #[error("resource {0:?} has a refined reservation (more than one entry in 'reservations'), which is not supported")]
    RefinedReservation(String),
    /// A persistent volume that is not reserved disk, or has an invalid id.
    #[error("resource {0:?} is not a valid persistent volume: {1}")]
    BadVolume(String, String),
    /// A feature of Mesos resources that Strata does not implement (disk
    /// sources, shared or revocable resources).
    #[error("resource {0:?} uses {1}, which is not supported")]
    Unsupported(String, &'static str),
}

/// Reads wire resources into a bundle of unreserved resources, refusing
/// reserved ones and what cannot be accounted. See [`detailed_from_wire`]
/// for resources that may be reserved or persistent volumes.
pub fn resources_from_wire(list: &[v1::Resource]) -> Result<Resources, ResourceConversionError> {
    let mut out = Resources::new();
    for r in list {
        if let Some(role) = r
            .role
            .as_deref()
            .filter(|role| *role != DEFAULT_ROLE && !role.is_empty())
            .or_else(|| r.reservations.first().and_then(|x| x.role.as_deref()))
        {
            return Err(ResourceConversionError::UnsupportedRole(
                r.name.clone(),
                role.to_owned(),
            ));
        }
        out.add(&amount_from_wire(r)?);
    }
    Ok(out)
}

/// The amount of one wire resource.
fn amount_from_wire(r: &v1::Resource) -> Result<Resources, ResourceConversionError> {
    let mut out = Resources::new();
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
    Ok(out)
}

/// Reads wire resources with their reservations and persistent volumes.
///
/// Both of Mesos's formats are read: `reservations` (a list; Strata takes
/// one entry, refined reservations are refused) and the older `role` plus
/// optional `reservation` (a `reservation` makes it dynamic). When both
/// are present they must name the same role. A persistent volume
/// (`disk.persistence`) must be reserved `disk`; `disk.volume` (where a
/// task mounts it) is not part of what the resource is and is ignored here.
pub fn detailed_from_wire(
    list: &[v1::Resource],
) -> Result<DetailedResources, ResourceConversionError> {
    let mut out = DetailedResources::new();
    for r in list {
        let amount = amount_from_wire(r)?;
        let kind = kind_from_wire(r)?;
        out.add(kind, &amount);
    }
    Ok(out)
}

/// The kind (reservation, volume) of one wire resource.
pub fn kind_from_wire(r: &v1::Resource) -> Result<ResourceKind, ResourceConversionError> {
    let bad = |why: &str| ResourceConversionError::BadReservation(r.name.clone(), why.to_owned());
    if r.shared.is_some() {
        return Err(ResourceConversionError::Unsupported(
            r.name.clone(),
            "shared resources",
        ));
    }
    if r.revocable.is_some() {
        return Err(ResourceConversionError::Unsupported(
            r.name.clone(),
            "revocable resources",
        ));
    }
    let legacy_role = r
        .role
        .as_deref()
        .filter(|role| !role.is_empty() && *role != DEFAULT_ROLE);
    let reservation = match r.reservations.as_slice() {
        [] => match legacy_role {
            None if r.reservation.is_some() => {
                return Err(bad("'reservation' is set but 'role' names no role"))
            }
            None => None,
            Some(role) => Some(Reservation {
                role: role.to_owned(),
                kind: if r.reservation.is_some() {
                    ReservationType::Dynamic
                } else {
                    ReservationType::Static
                },
                principal: r.reservation.as_ref().and_then(|x| x.principal.clone()),
                labels: r
                    .reservation
                    .as_ref()
                    .map(|x| labels_from_wire(x.labels.as_ref()))
                    .unwrap_or_default(),
            }),
        },
        [one] => {
            let role = one
                .role
                .as_deref()
                .filter(|role| !role.is_empty())
                .ok_or_else(|| bad("the reservation names no role"))?;
            if legacy_role.is_some_and(|l| l != role) {
                return Err(bad(&format!(
                    "'role' says {:?} but 'reservations' says {role:?}",
                    legacy_role.unwrap_or_default()
                )));
            }
            let kind = match one.r#type.map(v1::ReservationType::try_from) {
                Some(Ok(v1::ReservationType::Static)) => ReservationType::Static,
                Some(Ok(v1::ReservationType::Dynamic)) => ReservationType::Dynamic,
                _ => return Err(bad("the reservation's 'type' must be STATIC or DYNAMIC")),
            };
            Some(Reservation {
                role: role.to_owned(),
                kind,
                principal: one.principal.clone(),
                labels: labels_from_wire(one.labels.as_ref()),
            })
        }
        _ => return Err(ResourceConversionError::RefinedReservation(r.name.clone())),
    };
    if let Some(res) = &reservation {
        if res.role == DEFAULT_ROLE {
            return Err(bad("resources cannot be reserved for the default role '*'"));
        }
        strata_api::validate_role(&res.role)
            .map_err(|e| ResourceConversionError::InvalidRole(r.name.clone(), e.to_string()))?;
    }
    let mut persistence = None;
    if let Some(disk) = &r.disk {
        if disk.source.is_some() {
            return Err(ResourceConversionError::Unsupported(
                r.name.clone(),
                "a disk source (PATH, MOUNT, BLOCK or RAW disks)",
            ));
        }
        if let Some(p) = &disk.persistence {
            let bad_volume =
                |why: &str| ResourceConversionError::BadVolume(r.name.clone(), why.to_owned());
            if r.name != "disk" || r.r#type != v1::ValueType::Scalar as i32 {
                return Err(bad_volume(
                    "only 'disk' resources can be persistent volumes",
                ));
            }
            if reservation.is_none() {
                return Err(bad_volume(
                    "a persistent volume must be made of reserved disk",
                ));
            }
            validate_persistence_id(&p.id).map_err(|e| bad_volume(&e))?;
            persistence = Some(Persistence {
                id: p.id.clone(),
                principal: p.principal.clone(),
            });
        }
    }
    Ok(ResourceKind {
        reservation,
        persistence,
    })
}

/// A persistence id names a directory on the agent: non-empty, no `/`, no
/// whitespace or control characters, not `.` or `..` (Mesos's id rules).
pub fn validate_persistence_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("the persistence id is empty".into());
    }
    if id == "." || id == ".." {
        return Err(format!("the persistence id {id:?} is not allowed"));
    }
    if id
        .chars()
        .any(|c| c == '/' || c == '\\' || c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "the persistence id {id:?} contains '/', '\\', whitespace or a control character"
        ));
    }
    Ok(())
}

fn labels_from_wire(labels: Option<&v1::Labels>) -> Vec<Label> {
    let mut out: Vec<Label> = labels
        .map(|l| {
            l.labels
                .iter()
                .map(|x| Label {
                    key: x.key.clone(),
                    value: x.value.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn labels_to_wire(labels: &[Label]) -> Option<v1::Labels> {
    (!labels.is_empty()).then(|| v1::Labels {
        labels: labels
            .iter()
            .map(|l| v1::Label {
                key: l.key.clone(),
                value: l.value.clone(),
            })
            .collect(),
    })
}

/// Writes a detailed bundle as wire resources, without `allocation_info`.
///
/// Reserved resources carry both formats, as offers do for frameworks
/// that predate reservation refinement and for those that do not:
/// `reservations` (one entry with type, role, principal and labels) and
/// the older `role` plus, for dynamic reservations, `reservation`
/// (principal and labels). Volumes carry `disk.persistence`; where tasks
/// mount them (`disk.volume`) is the caller's to add.
pub fn detailed_to_wire(res: &DetailedResources) -> Vec<v1::Resource> {
    let mut out = Vec::new();
    for (kind, amount) in res.parts() {
        for mut r in resources_to_wire(amount) {
            r.allocation_info = None;
            if let Some(rv) = &kind.reservation {
                r.role = Some(rv.role.clone());
                let dynamic = rv.kind == ReservationType::Dynamic;
                r.reservation = dynamic.then(|| v1::ReservationInfo {
                    principal: rv.principal.clone(),
                    labels: labels_to_wire(&rv.labels),
                    ..Default::default()
                });
                r.reservations = vec![v1::ReservationInfo {
                    r#type: Some(if dynamic {
                        v1::ReservationType::Dynamic as i32
                    } else {
                        v1::ReservationType::Static as i32
                    }),
                    role: Some(rv.role.clone()),
                    principal: rv.principal.clone(),
                    labels: labels_to_wire(&rv.labels),
                }];
            }
            if let Some(p) = &kind.persistence {
                r.disk = Some(v1::DiskInfo {
                    persistence: Some(v1::DiskInfoPersistence {
                        id: p.id.clone(),
                        principal: p.principal.clone(),
                    }),
                    ..Default::default()
                });
            }
            out.push(r);
        }
    }
    out
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

    fn detailed(json: &str) -> Result<DetailedResources, ResourceConversionError> {
        let list: Vec<v1::Resource> = serde_json::from_str(json).unwrap();
        detailed_from_wire(&list)
    }

    #[test]
    fn reservations_and_volumes_round_trip_through_the_wire() {
        let mut dynamic = Reservation::dynamic_for("analytics", Some("ops"));
        dynamic.labels = vec![Label {
            key: "team".into(),
            value: Some("etl".into()),
        }];
        let volume = ResourceKind {
            reservation: Some(dynamic.clone()),
            persistence: Some(Persistence {
                id: "db".into(),
                principal: Some("ops".into()),
            }),
        };
        let d = DetailedResources::from("cpus:2;ports:[31000-31009]".parse::<Resources>().unwrap())
            .with(
                ResourceKind::reserved(Reservation::static_for("analytics")),
                &"cpus:4;mem:4096".parse().unwrap(),
            )
            .with(
                ResourceKind::reserved(dynamic),
                &"disk:100".parse().unwrap(),
            )
            .with(volume, &"disk:64".parse().unwrap());
        let wire = detailed_to_wire(&d);
        assert_eq!(detailed_from_wire(&wire).unwrap(), d);
        // Both formats are present on reserved resources.
        let cpus = wire
            .iter()
            .find(|r| r.name == "cpus" && r.role.as_deref() == Some("analytics"))
            .unwrap();
        assert_eq!(
            cpus.reservations[0].r#type,
            Some(v1::ReservationType::Static as i32)
        );
        assert!(
            cpus.reservation.is_none(),
            "static: no pre-refinement 'reservation'"
        );
        let json = serde_json::to_value(&wire).unwrap();
        let vol = json
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["disk"]["persistence"]["id"] == "db")
            .unwrap();
        assert_eq!(vol["reservations"][0]["type"], "DYNAMIC");
        assert_eq!(vol["reservation"]["principal"], "ops");
        assert_eq!(vol["role"], "analytics");
    }

    #[test]
    fn both_reservation_formats_are_read() {
        let pre = detailed(
            r#"[{"name":"cpus","type":"SCALAR","scalar":{"value":1},"role":"eng"},
                {"name":"mem","type":"SCALAR","scalar":{"value":64},"role":"eng","reservation":{"principal":"p"}}]"#,
        )
        .unwrap();
        assert_eq!(
            pre.get(&ResourceKind::reserved(Reservation::static_for("eng"))),
            "cpus:1".parse().unwrap()
        );
        assert_eq!(
            pre.get(&ResourceKind::reserved(Reservation::dynamic_for(
                "eng",
                Some("p")
            ))),
            "mem:64".parse().unwrap()
        );
        let post = detailed(
            r#"[{"name":"mem","type":"SCALAR","scalar":{"value":64},
                 "reservations":[{"type":"DYNAMIC","role":"eng","principal":"p"}]}]"#,
        )
        .unwrap();
        assert_eq!(post.total(), "mem:64".parse().unwrap());
        assert_eq!(
            post.role_resources().reservation("eng"),
            Some(&"mem:64".parse().unwrap())
        );
    }

    #[test]
    fn bad_reservations_and_volumes_are_named() {
        for (json, want) in [
            (
                r#"[{"name":"cpus","type":"SCALAR","scalar":{"value":1},"reservations":[{"type":"DYNAMIC","role":"a"},{"type":"DYNAMIC","role":"a/b"}]}]"#,
                "refined reservation",
            ),
            (
                r#"[{"name":"cpus","type":"SCALAR","scalar":{"value":1},"role":"x","reservations":[{"type":"DYNAMIC","role":"y"}]}]"#,
                r#"'role' says "x" but 'reservations' says "y""#,
            ),
            (
                r#"[{"name":"cpus","type":"SCALAR","scalar":{"value":1},"reservations":[{"role":"y"}]}]"#,
                "must be STATIC or DYNAMIC",
            ),
            (
                r#"[{"name":"cpus","type":"SCALAR","scalar":{"value":1},"reservations":[{"type":"DYNAMIC","role":"*"}]}]"#,
                "default role",
            ),
            (
                r#"[{"name":"cpus","type":"SCALAR","scalar":{"value":1},"reservations":[{"type":"DYNAMIC","role":"bad role"}]}]"#,
                "invalid role",
            ),
            (
                r#"[{"name":"disk","type":"SCALAR","scalar":{"value":1},"disk":{"persistence":{"id":"v"}}}]"#,
                "must be made of reserved disk",
            ),
            (
                r#"[{"name":"mem","type":"SCALAR","scalar":{"value":1},"role":"a","disk":{"persistence":{"id":"v"}}}]"#,
                "only 'disk'",
            ),
            (
                r#"[{"name":"disk","type":"SCALAR","scalar":{"value":1},"role":"a","disk":{"persistence":{"id":"../x"}}}]"#,
                "contains '/'",
            ),
            (
                r#"[{"name":"disk","type":"SCALAR","scalar":{"value":1},"role":"a","disk":{"source":{"type":"MOUNT"}}}]"#,
                "disk source",
            ),
            (
                r#"[{"name":"cpus","type":"SCALAR","scalar":{"value":-2},"role":"a"}]"#,
                "invalid scalar value",
            ),
            (
                r#"[{"name":"cpus","type":"SCALAR","role":"a"}]"#,
                "invalid scalar value",
            ),
        ] {
            let e = detailed(json).unwrap_err().to_string();
            assert!(e.contains(want), "{json}: {e}");
        }
        // The unreserved-only reader refuses reservations in either format.
        let list: Vec<v1::Resource> = serde_json::from_str(
            r#"[{"name":"cpus","type":"SCALAR","scalar":{"value":1},"reservations":[{"type":"DYNAMIC","role":"a"}]}]"#,
        )
        .unwrap();
        assert!(matches!(
            resources_from_wire(&list),
            Err(ResourceConversionError::UnsupportedRole(..))
        ));
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

//! Resources in full detail: besides its amount, a Mesos resource carries who
//! it is reserved for and how ([`Reservation`]), and whether it is a
//! persistent volume ([`Persistence`]). [`DetailedResources`] keeps amounts
//! apart by that [`ResourceKind`], so 2 cpus reserved for `analytics` by one
//! principal never mix with 2 cpus reserved for it by another, nor a volume's
//! disk with plain reserved disk.
//!
//! [`RoleResources`] is the coarser view the allocator needs (by reservation
//! role only); [`DetailedResources::role_resources`] collapses to it.

use std::collections::BTreeMap;
use std::fmt;

use crate::resources::Resources;
use crate::role::{RoleResources, DEFAULT_ROLE};

/// How a reservation came about (Mesos's `ReservationInfo.Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ReservationType {
    /// From the agent's configured resources (`cpus(analytics):4`); only an
    /// agent restarted with other flags changes it.
    Static,
    /// Made by a framework (the RESERVE offer operation) or an operator;
    /// undone by UNRESERVE.
    Dynamic,
}

/// A free-form key and optional value (Mesos's `Label`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label {
    /// The key.
    pub key: String,
    /// The value, if any.
    pub value: Option<String>,
}

/// Whom resources are reserved for, and how (Mesos's `ReservationInfo`).
/// Two reservations for one role that differ in type, principal or labels
/// are different reservations, as in Mesos.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Reservation {
    /// The role the resources are reserved for (never `*`).
    pub role: String,
    /// Static or dynamic.
    pub kind: ReservationType,
    /// Who made a dynamic reservation, if known.
    pub principal: Option<String>,
    /// Labels of a dynamic reservation, sorted.
    pub labels: Vec<Label>,
}

impl Reservation {
    /// A static reservation for `role`.
    pub fn static_for(role: &str) -> Self {
        Self {
            role: role.to_owned(),
            kind: ReservationType::Static,
            principal: None,
            labels: Vec::new(),
        }
    }

    /// A dynamic reservation for `role` made by `principal`, without labels.
    pub fn dynamic_for(role: &str, principal: Option<&str>) -> Self {
        Self {
            role: role.to_owned(),
            kind: ReservationType::Dynamic,
            principal: principal.map(str::to_owned),
            labels: Vec::new(),
        }
    }

    /// True for a dynamic reservation.
    pub fn is_dynamic(&self) -> bool {
        self.kind == ReservationType::Dynamic
    }
}

impl fmt::Display for Reservation {
    /// `analytics` for a static reservation; `analytics, dynamic by ops,
    /// team=etl` for a dynamic one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.role)?;
        if self.kind == ReservationType::Dynamic {
            f.write_str(", dynamic")?;
            if let Some(p) = &self.principal {
                write!(f, " by {p}")?;
            }
            for l in &self.labels {
                match &l.value {
                    Some(v) => write!(f, ", {}={v}", l.key)?,
                    None => write!(f, ", {}", l.key)?,
                }
            }
        }
        Ok(())
    }
}

/// A persistent volume's identity (Mesos's `DiskInfo.Persistence`): an id
/// unique on its agent and the principal that created it. Where the volume
/// is mounted is not part of it: each task names its own container path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Persistence {
    /// The persistence id.
    pub id: String,
    /// Who created the volume, if known.
    pub principal: Option<String>,
}

/// What, besides its amount, tells one resource from another: its
/// reservation (none: unreserved) and whether it is a persistent volume.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ResourceKind {
    /// The reservation, or `None` for unreserved resources.
    pub reservation: Option<Reservation>,
    /// Set for the disk of a persistent volume (always reserved).
    pub persistence: Option<Persistence>,
}

impl ResourceKind {
    /// Unreserved resources.
    pub fn unreserved() -> Self {
        Self::default()
    }

    /// Resources reserved as `reservation`.
    pub fn reserved(reservation: Reservation) -> Self {
        Self {
            reservation: Some(reservation),
            persistence: None,
        }
    }

    /// The role the resources are reserved for, `*` when unreserved.
    pub fn role(&self) -> &str {
        self.reservation
            .as_ref()
            .map_or(DEFAULT_ROLE, |r| r.role.as_str())
    }

    /// True for the disk of a persistent volume.
    pub fn is_volume(&self) -> bool {
        self.persistence.is_some()
    }

    /// The same kind without the volume: the plain reserved disk a volume
    /// was created from and returns to when destroyed.
    pub fn without_volume(&self) -> Self {
        Self {
            reservation: self.reservation.clone(),
            persistence: None,
        }
    }
}

/// Resources kept apart by [`ResourceKind`]. Empty amounts are never stored,
/// so two bundles are equal exactly when they hold the same amounts of the
/// same kinds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DetailedResources {
    parts: BTreeMap<ResourceKind, Resources>,
}

impl DetailedResources {
    /// An empty bundle.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `amount` of `kind`.
    pub fn add(&mut self, kind: ResourceKind, amount: &Resources) {
        if amount.is_empty() {
            return;
        }
        self.parts.entry(kind).or_default().add(amount);
    }

    /// Builder form of [`DetailedResources::add`].
    pub fn with(mut self, kind: ResourceKind, amount: &Resources) -> Self {
        self.add(kind, amount);
        self
    }

    /// Removes `amount` of `kind`, flooring at zero.
    pub fn subtract(&mut self, kind: &ResourceKind, amount: &Resources) {
        if let Some(mine) = self.parts.get_mut(kind) {
            mine.subtract(amount);
            if mine.is_empty() {
                self.parts.remove(kind);
            }
        }
    }

    /// Every kind with its amount, in kind order (unreserved first).
    pub fn parts(&self) -> impl Iterator<Item = (&ResourceKind, &Resources)> {
        self.parts.iter()
    }

    /// The amount of `kind` (empty when absent).
    pub fn get(&self, kind: &ResourceKind) -> Resources {
        self.parts.get(kind).cloned().unwrap_or_default()
    }

    /// Adds every part of `other`.
    pub fn add_all(&mut self, other: &DetailedResources) {
        for (kind, amount) in &other.parts {
            self.add(kind.clone(), amount);
        }
    }

    /// Removes every part of `other`, flooring at zero.
    pub fn subtract_all(&mut self, other: &DetailedResources) {
        for (kind, amount) in &other.parts {
            self.subtract(kind, amount);
        }
    }

    /// `self + other`.
    pub fn plus(&self, other: &DetailedResources) -> DetailedResources {
        let mut r = self.clone();
        r.add_all(other);
        r
    }

    /// `self - other`, floored at zero.
    pub fn minus(&self, other: &DetailedResources) -> DetailedResources {
        let mut r = self.clone();
        r.subtract_all(other);
        r
    }

    /// True when every part of `other` is available in `self` as the same kind.
    pub fn contains(&self, other: &DetailedResources) -> bool {
        other
            .parts
            .iter()
            .all(|(kind, amount)| self.parts.get(kind).is_some_and(|m| m.contains(amount)))
    }

    /// True when the bundle holds nothing.
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// Everything, whatever its kind.
    pub fn total(&self) -> Resources {
        let mut total = Resources::new();
        for amount in self.parts.values() {
            total.add(amount);
        }
        total
    }

    /// The unreserved part.
    pub fn unreserved(&self) -> Resources {
        self.get(&ResourceKind::unreserved())
    }

    /// True when some part is reserved.
    pub fn has_reservations(&self) -> bool {
        self.parts.keys().any(|k| k.reservation.is_some())
    }

    /// The reserved parts summed by reservation role.
    pub fn reserved_by_role(&self) -> BTreeMap<String, Resources> {
        let mut out: BTreeMap<String, Resources> = BTreeMap::new();
        for (kind, amount) in &self.parts {
            if let Some(r) = &kind.reservation {
                out.entry(r.role.clone()).or_default().add(amount);
            }
        }
        out
    }

    /// The allocator's view: amounts by reservation role only. Roles here
    /// were validated when the bundle was read, so none is refused.
    pub fn role_resources(&self) -> RoleResources {
        let mut out = RoleResources::from(self.unreserved());
        for (role, amount) in self.reserved_by_role() {
            // Reservation roles are validated where bundles are read.
            let _ = out.add_reserved(&role, &amount);
        }
        out
    }

    /// The parts that are persistent volumes.
    pub fn volumes(&self) -> impl Iterator<Item = (&ResourceKind, &Resources)> {
        self.parts.iter().filter(|(k, _)| k.is_volume())
    }

    /// Only the parts for which `keep` is true.
    pub fn filter(&self, mut keep: impl FnMut(&ResourceKind) -> bool) -> DetailedResources {
        DetailedResources {
            parts: self
                .parts
                .iter()
                .filter(|(k, _)| keep(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }
}

impl From<Resources> for DetailedResources {
    /// All of `resources`, unreserved.
    fn from(resources: Resources) -> Self {
        Self::new().with(ResourceKind::unreserved(), &resources)
    }
}

impl From<&RoleResources> for DetailedResources {
    /// Reserved parts become static reservations (the agent's `--resources`).
    fn from(r: &RoleResources) -> Self {
        let mut out = Self::from(r.unreserved().clone());
        for (role, amount) in r.reserved() {
            out.add(
                ResourceKind::reserved(Reservation::static_for(role)),
                amount,
            );
        }
        out
    }
}

impl fmt::Display for DetailedResources {
    /// The Mesos text form with the kind in the tag: `cpus:2;cpus(analytics):4;
    /// disk(analytics, dynamic by ops)[volume db]:64`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut items: Vec<String> = Vec::new();
        for (kind, amount) in &self.parts {
            let text = amount.to_string();
            for item in text.split(';').filter(|i| !i.is_empty()) {
                let Some((name, value)) = item.split_once(':') else {
                    continue;
                };
                let mut tag = String::new();
                if let Some(r) = &kind.reservation {
                    tag.push_str(&format!("({r})"));
                }
                if let Some(p) = &kind.persistence {
                    tag.push_str(&format!("[volume {}]", p.id));
                }
                items.push(format!("{name}{tag}:{value}"));
            }
        }
        if items.is_empty() {
            return f.write_str("nothing");
        }
        f.write_str(&items.join(";"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(s: &str) -> Resources {
        s.parse().unwrap()
    }

    fn volume(role: &str, id: &str) -> ResourceKind {
        ResourceKind {
            reservation: Some(Reservation::dynamic_for(role, Some("ops"))),
            persistence: Some(Persistence {
                id: id.into(),
                principal: None,
            }),
        }
    }

    #[test]
    fn kinds_stay_apart_and_collapse_by_role() {
        let stat = ResourceKind::reserved(Reservation::static_for("analytics"));
        let dynamic = ResourceKind::reserved(Reservation::dynamic_for("analytics", Some("ops")));
        let mut d = DetailedResources::from(res("cpus:2;disk:100"))
            .with(stat.clone(), &res("cpus:4"))
            .with(dynamic.clone(), &res("cpus:1;disk:50"))
            .with(volume("analytics", "db"), &res("disk:64"));
        assert_eq!(d.total(), res("cpus:7;disk:214"));
        assert!(d.contains(&DetailedResources::new().with(stat.clone(), &res("cpus:3"))));
        assert!(!d.contains(&DetailedResources::new().with(dynamic.clone(), &res("cpus:3"))));
        assert!(
            !d.contains(&DetailedResources::new().with(volume("analytics", "x"), &res("disk:1")))
        );
        let roles = d.role_resources();
        assert_eq!(roles.unreserved(), &res("cpus:2;disk:100"));
        assert_eq!(
            roles.reservation("analytics"),
            Some(&res("cpus:5;disk:114"))
        );
        assert_eq!(d.volumes().count(), 1);
        d.subtract(&dynamic, &res("cpus:1;disk:50"));
        assert!(d.get(&dynamic).is_empty());
        assert_eq!(d.parts().count(), 3, "an emptied kind is dropped");
    }

    #[test]
    fn static_reservations_from_the_text_form() {
        let r: RoleResources = "cpus(analytics):4;mem(analytics):4096;cpus:2"
            .parse()
            .unwrap();
        let d = DetailedResources::from(&r);
        assert_eq!(d.unreserved(), res("cpus:2"));
        assert_eq!(
            d.get(&ResourceKind::reserved(Reservation::static_for(
                "analytics"
            ))),
            res("cpus:4;mem:4096")
        );
        assert_eq!(
            d.to_string(),
            "cpus:2;cpus(analytics):4;mem(analytics):4096"
        );
    }

    #[test]
    fn display_names_the_reservation_and_the_volume() {
        let d = DetailedResources::new().with(volume("eng", "db"), &res("disk:64"));
        assert_eq!(d.to_string(), "disk(eng, dynamic by ops)[volume db]:64");
        assert_eq!(DetailedResources::new().to_string(), "nothing");
    }
}

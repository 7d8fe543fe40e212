//! Offer matching: read an offer into exact resources and claim what a task needs from it.
//!
//! An [`OfferView`] is the unclaimed remainder of one offer. Each successful
//! [`OfferView::claim`] takes cpus, mem, disk, gpus and host ports out of it, so several
//! tasks can be placed on one offer and the rest declined.

use strata_api::{Range, Resources};
use strata_client::v1;
use strata_proto::convert::{resources_from_wire, resources_to_wire};

use crate::constraints::Placement;

/// One host port a task asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortRequest {
    /// Any free port of the offer.
    Any,
    /// Exactly this port.
    Exact(u64),
}

/// What one task needs from an offer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResourceRequest {
    /// CPUs (fractions allowed).
    pub cpus: f64,
    /// Memory in MB.
    pub mem: f64,
    /// Disk in MB.
    pub disk: f64,
    /// GPUs.
    pub gpus: f64,
    /// Host ports, in the order the task will see them (`$PORT0`, `$PORT1`, ...).
    pub ports: Vec<PortRequest>,
}

/// A resource an offer did not have enough of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Shortfall {
    /// Not enough cpus.
    Cpus,
    /// Not enough memory.
    Mem,
    /// Not enough disk.
    Disk,
    /// Not enough gpus.
    Gpus,
    /// Not enough free ports, or a required port is taken.
    Ports,
}

impl Shortfall {
    /// Marathon's name for the reason an offer was not used (as in `/v2/queue`).
    pub fn marathon_reason(self) -> &'static str {
        match self {
            Shortfall::Cpus => "InsufficientCpus",
            Shortfall::Mem => "InsufficientMemory",
            Shortfall::Disk => "InsufficientDisk",
            Shortfall::Gpus => "InsufficientGpus",
            Shortfall::Ports => "InsufficientPorts",
        }
    }
}

/// Resources claimed from an offer for one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// Everything claimed, including the ports as ranges.
    pub resources: Resources,
    /// The host ports, in the order they were requested.
    pub ports: Vec<u64>,
}

impl Claim {
    /// The claim as wire resources for `TaskInfo.resources` (role `*`).
    pub fn to_wire(&self) -> Vec<v1::Resource> {
        resources_to_wire(&self.resources)
    }
}

/// The unclaimed part of one offer.
#[derive(Debug, Clone)]
pub struct OfferView {
    /// The offer's id.
    pub offer_id: v1::OfferId,
    /// The agent it is on.
    pub agent_id: v1::AgentId,
    /// The agent's hostname.
    pub hostname: String,
    /// The agent's attributes.
    pub attributes: Vec<v1::Attribute>,
    /// What is left to claim.
    pub remaining: Resources,
    /// Whether anything was claimed.
    pub used: bool,
}

impl OfferView {
    /// Reads an offer. Resources Strata cannot account (reserved for another role, SET or
    /// TEXT typed) are left out rather than failing the whole offer.
    pub fn new(offer: &v1::Offer) -> Self {
        let mut remaining = Resources::new();
        for r in &offer.resources {
            match resources_from_wire(std::slice::from_ref(r)) {
                Ok(one) => remaining.add(&one),
                Err(e) => tracing::debug!(error = %e, "offer resource not usable; skipped"),
            }
        }
        Self {
            offer_id: offer.id.clone().unwrap_or_default(),
            agent_id: offer.agent_id.clone().unwrap_or_default(),
            hostname: offer.hostname.clone(),
            attributes: offer.attributes.clone(),
            remaining,
            used: false,
        }
    }

    /// The placement (hostname and attributes) constraints are checked against.
    pub fn placement(&self) -> Placement<'_> {
        Placement {
            hostname: &self.hostname,
            attributes: &self.attributes,
        }
    }

    /// What is short for `request`, without claiming anything. Empty when it fits.
    pub fn shortfalls(&self, request: &ResourceRequest) -> Vec<Shortfall> {
        let mut out = Vec::new();
        let r = &self.remaining;
        let checks = [
            ("cpus", request.cpus, Shortfall::Cpus),
            ("mem", request.mem, Shortfall::Mem),
            ("disk", request.disk, Shortfall::Disk),
            ("gpus", request.gpus, Shortfall::Gpus),
        ];
        for (name, want, shortfall) in checks {
            if want > 0.0 && !r.contains(&Resources::new().with_scalar(name, want)) {
                out.push(shortfall);
            }
        }
        if self.pick_ports(&request.ports).is_none() {
            out.push(Shortfall::Ports);
        }
        out
    }

    /// Claims `request` from the offer, or says what is short (and claims nothing).
    pub fn claim(&mut self, request: &ResourceRequest) -> Result<Claim, Vec<Shortfall>> {
        let shortfalls = self.shortfalls(request);
        if !shortfalls.is_empty() {
            return Err(shortfalls);
        }
        let ports = self.pick_ports(&request.ports).unwrap_or_default();
        let mut resources = Resources::new();
        for (name, want) in [
            ("cpus", request.cpus),
            ("mem", request.mem),
            ("disk", request.disk),
            ("gpus", request.gpus),
        ] {
            if want > 0.0 {
                resources.add_scalar(name, want);
            }
        }
        for p in &ports {
            resources.add_range("ports", Range { begin: *p, end: *p });
        }
        self.remaining.subtract(&resources);
        self.used = true;
        Ok(Claim { resources, ports })
    }

    /// Chooses host ports: exact ones must be free; `Any` takes the lowest free ports not
    /// otherwise requested.
    fn pick_ports(&self, wanted: &[PortRequest]) -> Option<Vec<u64>> {
        if wanted.is_empty() {
            return Some(Vec::new());
        }
        let free = self.remaining.range_set("ports")?;
        let exact: Vec<u64> = wanted
            .iter()
            .filter_map(|p| match p {
                PortRequest::Exact(n) => Some(*n),
                PortRequest::Any => None,
            })
            .collect();
        if exact.iter().any(|p| !free.contains_value(*p)) {
            return None;
        }
        let mut taken: Vec<u64> = exact.clone();
        let mut out = Vec::with_capacity(wanted.len());
        let mut candidates = free
            .ranges()
            .iter()
            .flat_map(|r| r.begin..=r.end)
            .filter(|p| !exact.contains(p));
        for w in wanted {
            match w {
                PortRequest::Exact(n) => {
                    if out.contains(n) {
                        return None;
                    }
                    out.push(*n);
                }
                PortRequest::Any => {
                    let p = candidates.by_ref().find(|p| !taken.contains(p))?;
                    taken.push(p);
                    out.push(p);
                }
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(resources: &str) -> v1::Offer {
        let r: Resources = resources.parse().unwrap();
        v1::Offer {
            id: Some(v1::offer_id("O1")),
            agent_id: Some(v1::agent_id("A1")),
            hostname: "host-a".into(),
            resources: resources_to_wire(&r),
            ..Default::default()
        }
    }

    fn request(cpus: f64, mem: f64, ports: Vec<PortRequest>) -> ResourceRequest {
        ResourceRequest {
            cpus,
            mem,
            ports,
            ..Default::default()
        }
    }

    #[test]
    fn claims_scalars_and_lowest_ports_until_the_offer_runs_out() {
        let mut view = OfferView::new(&offer("cpus:1;mem:100;ports:[31000-31002]"));
        let a = view
            .claim(&request(
                0.4,
                40.0,
                vec![PortRequest::Any, PortRequest::Any],
            ))
            .unwrap();
        assert_eq!(a.ports, vec![31000, 31001]);
        assert_eq!(a.resources.cpus(), 0.4);
        let b = view
            .claim(&request(0.4, 40.0, vec![PortRequest::Any]))
            .unwrap();
        assert_eq!(b.ports, vec![31002]);
        let err = view
            .claim(&request(0.4, 40.0, vec![PortRequest::Any]))
            .unwrap_err();
        assert_eq!(err, vec![Shortfall::Cpus, Shortfall::Mem, Shortfall::Ports]);
        assert!((view.remaining.cpus() - 0.2).abs() < 1e-9);
        assert!(view.used);
    }

    #[test]
    fn exact_ports_must_be_free_and_are_not_handed_out_as_any() {
        let mut view = OfferView::new(&offer("cpus:1;mem:100;ports:[31000-31001]"));
        let c = view
            .claim(&request(
                0.1,
                1.0,
                vec![PortRequest::Any, PortRequest::Exact(31000)],
            ))
            .unwrap();
        assert_eq!(c.ports, vec![31001, 31000]);
        assert_eq!(
            view.claim(&request(0.1, 1.0, vec![PortRequest::Exact(31000)])),
            Err(vec![Shortfall::Ports])
        );
        assert_eq!(
            view.shortfalls(&request(0.1, 1.0, vec![PortRequest::Exact(40000)])),
            vec![Shortfall::Ports]
        );
    }

    #[test]
    fn a_failed_claim_takes_nothing() {
        let mut view = OfferView::new(&offer("cpus:1;mem:10"));
        let before = view.remaining.clone();
        assert_eq!(
            view.claim(&request(0.5, 20.0, vec![])),
            Err(vec![Shortfall::Mem])
        );
        assert_eq!(view.remaining, before);
        assert!(!view.used);
        assert_eq!(
            view.claim(&request(0.5, 5.0, vec![PortRequest::Any])),
            Err(vec![Shortfall::Ports])
        );
    }

    #[test]
    fn claims_round_trip_to_wire_resources() {
        let mut view = OfferView::new(&offer("cpus:2;mem:100;disk:50;ports:[5-9]"));
        let mut req = request(1.5, 64.0, vec![PortRequest::Any]);
        req.disk = 10.0;
        let c = view.claim(&req).unwrap();
        let back = resources_from_wire(&c.to_wire()).unwrap();
        assert_eq!(back, c.resources);
        assert!(back.to_string().contains("ports"));
    }

    #[test]
    fn reserved_resources_are_skipped_not_fatal() {
        let mut o = offer("cpus:1;mem:10");
        let mut reserved = o.resources[0].clone();
        reserved.role = Some("web".into());
        o.resources.push(reserved);
        let view = OfferView::new(&o);
        assert_eq!(view.remaining.cpus(), 1.0);
    }
}

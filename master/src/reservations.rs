//! Reservations and persistent volumes in the master.
//!
//! The allocator accounts reserved resources by role only. The master keeps
//! the detail Mesos frameworks see: per agent, the resources as configured
//! (unreserved and static reservations), the dynamic reservations and
//! persistent volumes it made durable in the registry (Mesos's
//! "checkpointed resources"), and the total that results ([`AgentResources`]).
//! When the allocator offers `disk(analytics):100`, the master tells which
//! part of it is a volume, which a static and which a dynamic reservation,
//! from what tasks and offers on the agent already hold ([`MasterCore::offer_resources`]).
//!
//! The offer operations RESERVE, UNRESERVE, CREATE and DESTROY convert
//! resources inside an ACCEPT: each one checks its resources against what
//! the offers still hold after the operations before it, changes the
//! allocator and the agent's record, and hands the converted resources to
//! the operations after it. An invalid operation is dropped with a warning
//! (and an `OPERATION_ERROR` status when it has an id), as Mesos does; its
//! resources stay with the rest of the offer. Every change is written to the
//! registry before the call is answered and sent to the agent
//! ([`internal::CheckpointResources`]), which creates and removes volume
//! directories to match.

use std::collections::BTreeMap;

use strata_api::{
    AgentId, DetailedResources, FrameworkId, Reservation, ReservationType, ResourceKind, Resources,
    TaskId,
};
use strata_master_allocator::Allocation;
use strata_proto::convert::{detailed_from_wire, detailed_to_wire};
use strata_proto::internal::{self, master_message::Body as ToAgent};
use strata_proto::v1;
use tracing::{info, warn};

use super::{framework_roles, ApiError, MasterCore};

/// What the master knows of one agent's resources in detail.
#[derive(Debug, Clone, Default)]
pub struct AgentResources {
    /// As the agent reports them (its `--resources`): unreserved resources
    /// and static reservations.
    pub configured: DetailedResources,
    /// Dynamic reservations and persistent volumes made durable in the
    /// registry. Applied on top of `configured`: dynamic reservations come
    /// out of its unreserved part, volumes on static reservations out of the
    /// static part.
    pub checkpointed: DetailedResources,
    /// Where CREATE asked each volume to be mounted (`disk.volume`), by
    /// persistence id; offers carry it back.
    pub volume_mounts: BTreeMap<String, v1::Volume>,
    /// `configured` with `checkpointed` applied.
    pub total: DetailedResources,
}

/// The part of `configured` a checkpointed kind was made from.
fn source_kind(kind: &ResourceKind) -> ResourceKind {
    match &kind.reservation {
        Some(r) if r.kind == ReservationType::Static => kind.without_volume(),
        _ => ResourceKind::unreserved(),
    }
}

impl AgentResources {
    /// An agent's resources as configured, with `checkpointed` (from the
    /// registry) applied as far as it fits. Returns what did not fit (the
    /// agent came back with fewer resources), which is forgotten.
    pub fn new(
        configured: DetailedResources,
        checkpointed: &[v1::Resource],
    ) -> (Self, Vec<String>) {
        let mut me = Self {
            configured,
            ..Self::default()
        };
        let mut dropped = Vec::new();
        match detailed_from_wire(checkpointed) {
            Ok(d) => me.checkpointed = d,
            Err(e) => dropped.push(format!("unreadable checkpointed resources: {e}")),
        }
        for r in checkpointed {
            if let (Some(p), Some(v)) = (
                r.disk.as_ref().and_then(|d| d.persistence.as_ref()),
                r.disk.as_ref().and_then(|d| d.volume.as_ref()),
            ) {
                me.volume_mounts.insert(p.id.clone(), v.clone());
            }
        }
        dropped.extend(me.rebuild());
        (me, dropped)
    }

    /// Recomputes `total`, dropping checkpointed parts that no longer fit.
    fn rebuild(&mut self) -> Vec<String> {
        let mut total = self.configured.clone();
        let mut kept = DetailedResources::new();
        let mut dropped = Vec::new();
        for (kind, amount) in self.checkpointed.parts() {
            let source = source_kind(kind);
            if total.get(&source).contains(amount) {
                total.subtract(&source, amount);
                total.add(kind.clone(), amount);
                kept.add(kind.clone(), amount);
            } else {
                dropped.push(
                    DetailedResources::new()
                        .with(kind.clone(), amount)
                        .to_string(),
                );
            }
        }
        self.checkpointed = kept;
        let live: Vec<String> = self
            .checkpointed
            .volumes()
            .filter_map(|(k, _)| k.persistence.as_ref().map(|p| p.id.clone()))
            .collect();
        self.volume_mounts.retain(|id, _| live.contains(id));
        self.total = total;
        dropped
    }

    /// Converts `amount` of `from` into `to` in the checkpointed set and the
    /// total. `from` and `to` are any of unreserved, plain reserved and
    /// volume kinds; only what is neither unreserved nor static-and-plain
    /// is checkpointed.
    fn convert(&mut self, from: &ResourceKind, to: ResourceKind, amount: &Resources) {
        let checkpointed = |k: &ResourceKind| {
            k.is_volume() || k.reservation.as_ref().is_some_and(Reservation::is_dynamic)
        };
        if checkpointed(from) {
            self.checkpointed.subtract(from, amount);
        }
        if checkpointed(&to) {
            self.checkpointed.add(to.clone(), amount);
        }
        self.total.subtract(from, amount);
        self.total.add(to, amount);
    }

    /// A volume by persistence id: its kind and size.
    pub fn volume(&self, id: &str) -> Option<(ResourceKind, Resources)> {
        self.total
            .volumes()
            .find(|(k, _)| k.persistence.as_ref().is_some_and(|p| p.id == id))
            .map(|(k, r)| (k.clone(), r.clone()))
    }

    /// Wire resources for `d`, with volumes' `disk.volume` filled in from
    /// CREATE where the resource does not say.
    pub fn wire(&self, d: &DetailedResources) -> Vec<v1::Resource> {
        let mut out = detailed_to_wire(d);
        for r in &mut out {
            self.fill_mount(r);
        }
        out
    }

    /// Sets `disk.volume` of a volume resource that has none.
    pub fn fill_mount(&self, r: &mut v1::Resource) {
        let Some(disk) = r.disk.as_mut() else { return };
        let Some(id) = disk.persistence.as_ref().map(|p| p.id.clone()) else {
            return;
        };
        if disk.volume.is_none() {
            disk.volume = self.volume_mounts.get(&id).cloned();
        }
    }

    /// The checkpointed resources in wire form, as the registry and the
    /// agent keep them.
    pub fn checkpointed_wire(&self) -> Vec<v1::Resource> {
        self.wire(&self.checkpointed)
    }

    /// The dynamically reserved amounts (volumes included), by role: what
    /// the allocator must be told besides the static reservations.
    pub fn dynamic_by_role(&self) -> BTreeMap<String, Resources> {
        self.checkpointed
            .filter(|k| k.reservation.as_ref().is_some_and(Reservation::is_dynamic))
            .reserved_by_role()
    }
}

/// What is in use and on offer on an agent, in detail.
#[derive(Debug, Default)]
pub struct Usage {
    /// Resources of live tasks and executors.
    pub used: DetailedResources,
    /// Resources of outstanding offers.
    pub offered: DetailedResources,
    /// The task using each volume, by persistence id.
    pub volume_users: BTreeMap<String, TaskId>,
}

/// `min(a, b)` for scalars, the intersection for range sets.
fn intersection(a: &Resources, b: &Resources) -> Resources {
    a.minus(&a.minus(b))
}

/// A task's (or executor's) resources in detail, from the wire form it was
/// launched with.
pub fn detailed_of(wire: &[v1::Resource], fallback: &Resources) -> DetailedResources {
    detailed_from_wire(wire).unwrap_or_else(|_| DetailedResources::from(fallback.clone()))
}

/// Checks where a task wants a volume: a relative path inside the sandbox.
pub fn validate_container_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("a volume's 'container_path' must not be empty".into());
    }
    if path.starts_with('/') {
        return Err(format!(
            "volume container_path {path:?} must be relative to the sandbox"
        ));
    }
    if path.split('/').any(|part| part == "..") {
        return Err(format!(
            "volume container_path {path:?} must not contain '..'"
        ));
    }
    Ok(())
}

fn operation_name(op: &v1::OfferOperation) -> &'static str {
    use v1::json::MesosEnum as _;
    v1::OperationType::name_of(op.r#type.unwrap_or(0)).unwrap_or("UNKNOWN")
}

// === impl MasterCore: offers in detail ===

impl MasterCore {
    /// What is used and offered on `agent_id`, in detail.
    pub fn agent_usage(&self, agent_id: &AgentId) -> Usage {
        let mut usage = Usage::default();
        let Some(agent) = self.agents.get(agent_id) else {
            return usage;
        };
        for (fid, tid) in &agent.tasks {
            let Some(t) = self.frameworks.get(fid).and_then(|f| f.tasks.get(tid)) else {
                continue;
            };
            if t.state.is_terminal() {
                continue;
            }
            let d = detailed_of(&t.info.resources, &t.resources);
            for (k, _) in d.volumes() {
                if let Some(p) = &k.persistence {
                    usage.volume_users.insert(p.id.clone(), tid.clone());
                }
            }
            usage.used.add_all(&d);
        }
        for fw in self.frameworks.values() {
            for ((a, _), e) in &fw.executors {
                if a == agent_id {
                    usage
                        .used
                        .add_all(&detailed_of(&e.info.resources, &e.resources));
                }
            }
        }
        for o in self.offers.values().filter(|o| &o.agent_id == agent_id) {
            usage.offered.add_all(&self.offer_detail(o));
        }
        usage
    }

    /// The resources of an allocation in detail. The allocator decides the
    /// amounts per reservation role; the master tells them apart: whole
    /// volumes that nobody holds first, then the plain reserved kinds by
    /// what is free of each. Whatever the ledger cannot place (it and the
    /// allocator disagree after an agent re-registered with tasks) is shown
    /// as the role's first plain reservation.
    pub fn offer_resources(&self, agent_id: &AgentId, a: &Allocation) -> DetailedResources {
        let Some(agent) = self.agents.get(agent_id) else {
            return DetailedResources::from(a.resources.clone());
        };
        if a.reserved.is_empty() {
            return DetailedResources::from(a.resources.clone());
        }
        let mut reserved_sum = Resources::new();
        for r in a.reserved.values() {
            reserved_sum.add(r);
        }
        let mut out = DetailedResources::from(a.resources.minus(&reserved_sum));
        let usage = self.agent_usage(agent_id);
        let free = agent
            .resources
            .total
            .minus(&usage.used)
            .minus(&usage.offered);
        for (role, amount) in &a.reserved {
            let mut left = amount.clone();
            for (kind, size) in free.volumes().filter(|(k, _)| k.role() == role) {
                if left.contains(size) {
                    out.add(kind.clone(), size);
                    left.subtract(size);
                }
            }
            for (kind, avail) in free
                .parts()
                .filter(|(k, _)| k.role() == role && !k.is_volume())
            {
                let take = intersection(&left, avail);
                out.add(kind.clone(), &take);
                left.subtract(&take);
            }
            if !left.is_empty() {
                let fallback = agent
                    .resources
                    .total
                    .parts()
                    .find(|(k, _)| k.role() == role && !k.is_volume())
                    .map(|(k, _)| k.clone())
                    .unwrap_or_else(|| ResourceKind::reserved(Reservation::static_for(role)));
                out.add(fallback, &left);
            }
        }
        out
    }

    /// Offer resources in wire form with `allocation_info` for `role`.
    pub fn offer_wire(
        &self,
        agent_id: &AgentId,
        d: &DetailedResources,
        role: &str,
    ) -> Vec<v1::Resource> {
        let mut wire = match self.agents.get(agent_id) {
            Some(a) => a.resources.wire(d),
            None => detailed_to_wire(d),
        };
        for r in &mut wire {
            r.allocation_info = Some(v1::AllocationInfo {
                role: Some(role.to_owned()),
            });
        }
        wire
    }

    /// Prepares the resources of a task or executor for the agent: each
    /// gets `allocation_info` for `role` (so that a master that learns of
    /// the task from the agent knows its role, as in Mesos), and volumes
    /// get `disk.volume` from CREATE when the framework gave none. Refuses
    /// an invalid container path.
    pub fn prepare_launch_resources(
        &self,
        agent_id: &AgentId,
        role: &str,
        resources: &mut [v1::Resource],
    ) -> Result<(), String> {
        let ledger = self.agents.get(agent_id).map(|a| &a.resources);
        for r in resources.iter_mut() {
            if let Some(l) = ledger {
                l.fill_mount(r);
            }
            r.allocation_info = Some(v1::AllocationInfo {
                role: Some(role.to_owned()),
            });
            if let Some(disk) = &r.disk {
                if let (Some(p), v) = (&disk.persistence, &disk.volume) {
                    let v = v.as_ref().ok_or_else(|| {
                        format!("volume {} has no 'disk.volume.container_path'", p.id)
                    })?;
                    validate_container_path(&v.container_path)?;
                }
            }
        }
        Ok(())
    }

    /// Checks that a task or executor uses each of its volumes whole.
    pub fn check_whole_volumes(
        &self,
        agent_id: &AgentId,
        d: &DetailedResources,
    ) -> Result<(), String> {
        let Some(agent) = self.agents.get(agent_id) else {
            return Ok(());
        };
        for (kind, amount) in d.volumes() {
            let id = kind.persistence.as_ref().map_or("", |p| p.id.as_str());
            if let Some((_, size)) = agent.resources.volume(id) {
                if &size != amount {
                    return Err(format!(
                        "volume {id} holds {size} but the task names {amount}: a volume is used whole"
                    ));
                }
            }
        }
        Ok(())
    }

    /// Makes the agent's checkpointed resources durable and sends them to it.
    pub(crate) fn checkpoint_agent(&mut self, agent_id: &AgentId) {
        let Some(agent) = self.agents.get(agent_id) else {
            return;
        };
        let resources = agent.resources.checkpointed_wire();
        self.registry_ops
            .push(crate::registry::RegistryOp::PutAgent(
                agent_id.clone(),
                crate::registry::AgentRecord {
                    info: agent.info.clone(),
                    endpoint: agent.endpoint.clone(),
                    checkpointed_resources: resources.clone(),
                },
            ));
        self.send_to_agent(
            agent_id,
            ToAgent::CheckpointResources(internal::CheckpointResources { resources }),
        );
    }

    /// Tells the allocator about a (re-)registered agent: its static
    /// reservations, then the dynamic ones from the registry (all free at
    /// that point), then what its tasks and executors use, each in its role.
    pub(crate) fn add_agent_to_allocator(&mut self, agent_id: &AgentId) {
        let Some(agent) = self.agents.get(agent_id) else {
            return;
        };
        let statics = agent.resources.configured.role_resources();
        let dynamic = agent.resources.dynamic_by_role();
        self.allocator.remove_agent(agent_id);
        if let Err(e) = self
            .allocator
            .add_agent_with_reservations(agent_id.clone(), &statics, &[])
        {
            warn!(agent_id = %agent_id, error = %e, "agent's static reservations refused by the allocator");
            self.allocator
                .add_agent(agent_id.clone(), statics.total(), &[]);
        }
        for (role, amount) in dynamic {
            if let Err(e) = self.allocator.reserve(agent_id, &role, &amount) {
                warn!(agent_id = %agent_id, %role, resources = %amount, error = %e,
                    "a dynamic reservation from the registry could not be restored in the allocator");
            }
        }
        let mut used: Vec<(FrameworkId, String, Resources)> = Vec::new();
        for fw in self.frameworks.values() {
            for t in fw
                .tasks
                .values()
                .filter(|t| &t.agent_id == agent_id && !t.state.is_terminal())
            {
                used.push((fw.id.clone(), t.role.clone(), t.resources.clone()));
            }
            for ((a, _), e) in &fw.executors {
                if a == agent_id {
                    used.push((fw.id.clone(), e.role.clone(), e.resources.clone()));
                }
            }
        }
        for (fid, role, res) in used {
            if let Err(e) = self
                .allocator
                .allocate_used_role(agent_id, &fid, &role, &res)
            {
                warn!(framework_id = %fid, %role, error = %e, "task resources not counted by the allocator");
            }
        }
    }
}

// === impl MasterCore: offer operations ===

impl MasterCore {
    /// Applies one RESERVE, UNRESERVE, CREATE or DESTROY of an ACCEPT to the
    /// resources the offers still hold (`available`, allocated to `fid` in
    /// `role` on `agent_id`). On error nothing changed.
    pub(crate) fn apply_offer_operation(
        &mut self,
        fid: &FrameworkId,
        agent_id: &AgentId,
        role: &str,
        op: &v1::OfferOperation,
        available: &mut DetailedResources,
    ) -> Result<(), String> {
        use v1::OperationType as Op;
        if !self.agents.get(agent_id).is_some_and(|a| a.active()) {
            return Err(format!("agent {agent_id} is not connected"));
        }
        let principal = self
            .frameworks
            .get(fid)
            .and_then(|f| f.info.principal.clone());
        let roles = self
            .frameworks
            .get(fid)
            .map(|f| framework_roles(&f.info))
            .unwrap_or_default();
        let kind = Op::try_from(op.r#type.unwrap_or(0)).unwrap_or(Op::Unknown);
        let listed =
            |name: &str, list: Option<&Vec<v1::Resource>>| -> Result<DetailedResources, String> {
                let list = list
                    .filter(|l| !l.is_empty())
                    .ok_or_else(|| format!("expecting '{name}' to list resources"))?;
                detailed_from_wire(list).map_err(|e| format!("invalid resources: {e}"))
            };
        match kind {
            Op::Reserve => {
                let want = listed(
                    "reserve.resources",
                    op.reserve.as_ref().map(|r| &r.resources),
                )?;
                if role == strata_api::DEFAULT_ROLE {
                    return Err(
                        "frameworks in the default role '*' cannot reserve resources".into(),
                    );
                }
                for (k, _) in want.parts() {
                    let Some(r) = &k.reservation else {
                        return Err(format!(
                            "RESERVE of {want}: every resource needs a DYNAMIC reservation"
                        ));
                    };
                    if !r.is_dynamic() {
                        return Err(format!(
                            "RESERVE of {want}: only DYNAMIC reservations can be made"
                        ));
                    }
                    if k.is_volume() {
                        return Err(format!(
                            "RESERVE of {want}: a reservation cannot be a persistent volume; use CREATE"
                        ));
                    }
                    if !roles.contains(&r.role) {
                        return Err(format!(
                            "framework {fid} cannot reserve for role {:?}: it is subscribed to {roles:?}",
                            r.role
                        ));
                    }
                    if r.role != role {
                        return Err(format!(
                            "the reservation is for role {:?} but the offers are allocated to role {role:?}",
                            r.role
                        ));
                    }
                    check_principal(principal.as_deref(), r.principal.as_deref(), "reservation")?;
                }
                let needed = want.total();
                let have = available.unreserved();
                if !have.contains(&needed) {
                    return Err(format!(
                        "cannot reserve {needed}: the offers hold only {} unreserved",
                        shown(&have)
                    ));
                }
                self.allocator
                    .reserve_allocated(agent_id, fid, role, &needed)
                    .map_err(|e| e.to_string())?;
                available.subtract(&ResourceKind::unreserved(), &needed);
                available.add_all(&want);
                let ledger = &mut self.agents.get_mut(agent_id).expect("active").resources;
                for (k, amount) in want.parts() {
                    ledger.convert(&ResourceKind::unreserved(), k.clone(), amount);
                }
                info!(framework_id = %fid, agent_id = %agent_id, resources = %want, "reserved");
            }
            Op::Unreserve => {
                let want = listed(
                    "unreserve.resources",
                    op.unreserve.as_ref().map(|r| &r.resources),
                )?;
                for (k, _) in want.parts() {
                    let Some(r) = &k.reservation else {
                        return Err(format!(
                            "UNRESERVE of {want}: the resources are not reserved"
                        ));
                    };
                    if !r.is_dynamic() {
                        return Err(format!(
                            "UNRESERVE of {want}: static reservations (the agent's --resources) cannot be unreserved"
                        ));
                    }
                    if k.is_volume() {
                        return Err(format!(
                            "UNRESERVE of {want}: a persistent volume cannot be unreserved; DESTROY it first"
                        ));
                    }
                    if r.role != role {
                        return Err(format!(
                            "the reservation is for role {:?} but the offers are allocated to role {role:?}",
                            r.role
                        ));
                    }
                }
                if !available.contains(&want) {
                    return Err(format!(
                        "cannot unreserve {want}: the offers hold {}",
                        shown_detailed(&available.filter(|k| k.reservation.is_some()))
                    ));
                }
                let amount = want.total();
                self.allocator
                    .unreserve_allocated(agent_id, fid, role, &amount)
                    .map_err(|e| e.to_string())?;
                available.subtract_all(&want);
                available.add(ResourceKind::unreserved(), &amount);
                let ledger = &mut self.agents.get_mut(agent_id).expect("active").resources;
                for (k, amount) in want.parts() {
                    ledger.convert(k, ResourceKind::unreserved(), amount);
                }
                info!(framework_id = %fid, agent_id = %agent_id, resources = %want, "unreserved");
            }
            Op::Create => {
                let list = op.create.as_ref().map(|c| &c.volumes);
                let want = listed("create.volumes", list)?;
                let ledger = &self.agents[agent_id].resources;
                let mut mounts = BTreeMap::new();
                for r in list.into_iter().flatten() {
                    let disk = r.disk.as_ref();
                    let Some(p) = disk.and_then(|d| d.persistence.as_ref()) else {
                        return Err(format!(
                            "CREATE of {}: a volume needs 'disk.persistence.id'",
                            r.name
                        ));
                    };
                    let v = disk.and_then(|d| d.volume.clone()).ok_or_else(|| {
                        format!("CREATE of volume {}: expecting 'disk.volume' with a container_path and mode RW", p.id)
                    })?;
                    validate_container_path(&v.container_path)?;
                    if v.mode != v1::VolumeMode::Rw as i32 {
                        return Err(format!(
                            "CREATE of volume {}: only mode RW is supported",
                            p.id
                        ));
                    }
                    if v.host_path.is_some() {
                        return Err(format!(
                            "CREATE of volume {}: a persistent volume cannot set 'host_path'",
                            p.id
                        ));
                    }
                    if ledger.volume(&p.id).is_some() || mounts.contains_key(&p.id) {
                        return Err(format!(
                            "a persistent volume with id {:?} already exists on agent {agent_id}",
                            p.id
                        ));
                    }
                    mounts.insert(p.id.clone(), v);
                }
                let mut plain = DetailedResources::new();
                for (k, amount) in want.parts() {
                    let p = k.persistence.as_ref().expect("checked above");
                    check_principal(principal.as_deref(), p.principal.as_deref(), "volume")?;
                    plain.add(k.without_volume(), amount);
                }
                if !available.contains(&plain) {
                    return Err(format!(
                        "cannot create {want}: it needs {plain} and the offers hold {}",
                        shown_detailed(&available.filter(|k| k.reservation.is_some()))
                    ));
                }
                let ledger = &mut self.agents.get_mut(agent_id).expect("active").resources;
                for (k, amount) in want.parts() {
                    available.subtract(&k.without_volume(), amount);
                    available.add(k.clone(), amount);
                    ledger.convert(&k.without_volume(), k.clone(), amount);
                }
                ledger.volume_mounts.extend(mounts);
                info!(framework_id = %fid, agent_id = %agent_id, volumes = %want, "created persistent volumes");
            }
            Op::Destroy => {
                let want = listed("destroy.volumes", op.destroy.as_ref().map(|d| &d.volumes))?;
                let usage = self.agent_usage(agent_id);
                let ledger = &self.agents[agent_id].resources;
                let mut found = Vec::new();
                for (k, _) in want.parts() {
                    let Some(p) = &k.persistence else {
                        return Err(format!(
                            "DESTROY of {want}: the resources are not persistent volumes"
                        ));
                    };
                    let Some((kind, size)) = ledger.volume(&p.id) else {
                        return Err(format!(
                            "no persistent volume with id {:?} on agent {agent_id}",
                            p.id
                        ));
                    };
                    if let Some(task) = usage.volume_users.get(&p.id) {
                        return Err(format!(
                            "persistent volume {:?} is in use by task {task}",
                            p.id
                        ));
                    }
                    if !available.get(&kind).contains(&size) {
                        return Err(format!("persistent volume {:?} is not in the offers", p.id));
                    }
                    found.push((p.id.clone(), kind, size));
                }
                let ledger = &mut self.agents.get_mut(agent_id).expect("active").resources;
                for (id, kind, size) in found {
                    available.subtract(&kind, &size);
                    available.add(kind.without_volume(), &size);
                    ledger.convert(&kind, kind.without_volume(), &size);
                    ledger.volume_mounts.remove(&id);
                }
                info!(framework_id = %fid, agent_id = %agent_id, volumes = %want, "destroyed persistent volumes");
            }
            _ => return Err(format!("operation {} is not supported", operation_name(op))),
        }
        self.checkpoint_agent(agent_id);
        *self
            .counters
            .operations
            .entry((operation_name(op), "finished"))
            .or_default() += 1;
        if let Some(id) = &op.id {
            self.send_operation_status(
                fid,
                id,
                Some(agent_id),
                v1::OperationState::OperationFinished,
                String::new(),
            );
        }
        Ok(())
    }

    /// Drops an invalid operation as Mesos does: a warning, and an
    /// `OPERATION_ERROR` status if the framework gave the operation an id.
    /// Its resources stay with the rest of the offers.
    pub(crate) fn drop_operation(&mut self, fid: &FrameworkId, op: &v1::OfferOperation, why: &str) {
        let name = operation_name(op);
        warn!(framework_id = %fid, operation = name, error = %why, "dropping offer operation");
        *self.counters.operations.entry((name, "error")).or_default() += 1;
        if let Some(id) = &op.id {
            self.send_operation_status(
                fid,
                id,
                None,
                v1::OperationState::OperationError,
                why.to_owned(),
            );
        }
    }

    fn send_operation_status(
        &self,
        fid: &FrameworkId,
        id: &v1::OperationId,
        agent_id: Option<&AgentId>,
        state: v1::OperationState,
        message: String,
    ) {
        let status = v1::OperationStatus {
            operation_id: Some(id.clone()),
            state: state as i32,
            message: (!message.is_empty()).then_some(message),
            agent_id: agent_id.map(|a| v1::agent_id(a.as_str())),
            ..Default::default()
        };
        self.send_to_framework(
            fid,
            v1::SchedulerEvent {
                r#type: Some(v1::SchedulerEventType::UpdateOperationStatus as i32),
                update_operation_status: Some(v1::EventUpdateOperationStatus {
                    status: Some(status),
                }),
                ..Default::default()
            },
        );
    }
}

fn check_principal(framework: Option<&str>, given: Option<&str>, what: &str) -> Result<(), String> {
    match (framework, given) {
        (Some(f), Some(g)) if f != g => Err(format!(
            "the {what}'s principal {g:?} does not match the framework's principal {f:?}"
        )),
        (Some(f), None) => Err(format!(
            "the {what} names no principal; the framework's principal is {f:?}"
        )),
        _ => Ok(()),
    }
}

fn shown(r: &Resources) -> String {
    if r.is_empty() {
        "nothing".into()
    } else {
        r.to_string()
    }
}

fn shown_detailed(r: &DetailedResources) -> String {
    if r.is_empty() {
        "no reserved resources".into()
    } else {
        r.to_string()
    }
}

// === impl MasterCore: the operator's reservations ===

impl MasterCore {
    /// The operator's RESERVE_RESOURCES (and `/master/reserve`): dynamic
    /// reservations out of the agent's unreserved resources. Outstanding
    /// offers on the agent are rescinded if they hold what is needed.
    /// All or nothing; durable before the answer.
    pub fn operator_reserve(
        &mut self,
        agent_id: &AgentId,
        resources: &[v1::Resource],
    ) -> Result<(), ApiError> {
        let want = self.operator_resources(agent_id, resources)?;
        for (k, _) in want.parts() {
            match &k.reservation {
                Some(r) if r.is_dynamic() && !k.is_volume() => {}
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "cannot reserve {want}: every resource needs a DYNAMIC reservation and no volume"
                    )))
                }
            }
        }
        let needed = want.total();
        let free = |core: &Self| {
            core.allocator
                .agent_free_tagged(agent_id)
                .map(|r| r.unreserved().clone())
                .unwrap_or_default()
        };
        if !free(self).contains(&needed) {
            self.rescind_agent_offers(agent_id);
        }
        let have = free(self);
        if !have.contains(&needed) {
            return Err(ApiError {
                status: 409,
                message: format!(
                    "cannot reserve {needed} on agent {agent_id}: only {} is unreserved and not in use",
                    shown(&have)
                ),
            });
        }
        for (role, amount) in want.reserved_by_role() {
            self.allocator
                .reserve(agent_id, &role, &amount)
                .map_err(|e| ApiError {
                    status: 409,
                    message: e.to_string(),
                })?;
        }
        let ledger = &mut self.agents.get_mut(agent_id).expect("checked").resources;
        for (k, amount) in want.parts() {
            ledger.convert(&ResourceKind::unreserved(), k.clone(), amount);
        }
        info!(agent_id = %agent_id, resources = %want, "operator reserved");
        self.checkpoint_agent(agent_id);
        self.allocation_pending = true;
        Ok(())
    }

    /// The operator's UNRESERVE_RESOURCES (and `/master/unreserve`): undoes
    /// dynamic reservations that no task uses. Outstanding offers on the
    /// agent are rescinded if they hold them.
    pub fn operator_unreserve(
        &mut self,
        agent_id: &AgentId,
        resources: &[v1::Resource],
    ) -> Result<(), ApiError> {
        let want = self.operator_resources(agent_id, resources)?;
        for (k, _) in want.parts() {
            match &k.reservation {
                Some(r) if r.is_dynamic() && !k.is_volume() => {}
                Some(_) if k.is_volume() => {
                    return Err(ApiError::bad_request(format!(
                        "cannot unreserve {want}: a persistent volume must be destroyed first"
                    )))
                }
                _ => {
                    return Err(ApiError::bad_request(format!(
                        "cannot unreserve {want}: only DYNAMIC reservations can be unreserved"
                    )))
                }
            }
        }
        let total = &self.agents[agent_id].resources.total;
        if !total.contains(&want) {
            return Err(ApiError {
                status: 409,
                message: format!(
                    "cannot unreserve {want} on agent {agent_id}: it holds {}",
                    shown_detailed(&total.filter(|k| k.reservation.is_some()))
                ),
            });
        }
        let usage = self.agent_usage(agent_id);
        if !usage.offered.filter(|k| k.reservation.is_some()).is_empty() {
            self.rescind_agent_offers(agent_id);
        }
        // Check every role first: the allocator refuses what is in use.
        let by_role = want.reserved_by_role();
        for (role, amount) in &by_role {
            let free = self
                .allocator
                .agent_free_tagged(agent_id)
                .and_then(|r| r.reservation(role).cloned())
                .unwrap_or_default();
            if !free.contains(amount) {
                return Err(ApiError {
                    status: 409,
                    message: format!(
                        "cannot unreserve {amount} for role {role} on agent {agent_id}: only {} of it is not in use",
                        shown(&free)
                    ),
                });
            }
        }
        for (role, amount) in &by_role {
            self.allocator
                .unreserve(agent_id, role, amount)
                .map_err(|e| ApiError {
                    status: 409,
                    message: e.to_string(),
                })?;
        }
        let ledger = &mut self.agents.get_mut(agent_id).expect("checked").resources;
        for (k, amount) in want.parts() {
            ledger.convert(k, ResourceKind::unreserved(), amount);
        }
        info!(agent_id = %agent_id, resources = %want, "operator unreserved");
        self.checkpoint_agent(agent_id);
        self.allocation_pending = true;
        Ok(())
    }

    fn operator_resources(
        &self,
        agent_id: &AgentId,
        resources: &[v1::Resource],
    ) -> Result<DetailedResources, ApiError> {
        if !self.agents.get(agent_id).is_some_and(|a| a.active()) {
            return Err(ApiError {
                status: 409,
                message: format!("agent {agent_id} is not known or not connected"),
            });
        }
        if resources.is_empty() {
            return Err(ApiError::bad_request("no resources given"));
        }
        if resources.iter().any(|r| r.allocation_info.is_some()) {
            return Err(ApiError::bad_request(
                "the operator reserves unallocated resources: 'allocation_info' must not be set",
            ));
        }
        detailed_from_wire(resources)
            .map_err(|e| ApiError::bad_request(format!("invalid resources: {e}")))
    }
}

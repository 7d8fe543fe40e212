//! Renders the master's state in the JSON shapes of Mesos's operator
//! endpoints (`/master/state`, `/master/slaves`, `/master/frameworks`,
//! `/master/tasks`, `/metrics/snapshot`), which Mesos tools and UIs read.

use std::time::Duration;

use serde_json::{json, Map, Value};
use strata_api::{Resources, TaskState};
use strata_proto::v1;

use crate::core::{Agent, AgentLink, Framework, FrameworkConn, MasterCore, Task};

/// Resources as Mesos renders them (see `strata_proto::convert::resources_json`).
pub fn resources(r: &Resources) -> Value {
    strata_proto::convert::resources_json(r)
}

fn attributes(attrs: &[v1::Attribute]) -> Value {
    let mut m = Map::new();
    for a in attrs {
        let v = if let Some(s) = &a.scalar {
            json!(s.value)
        } else if let Some(t) = &a.text {
            json!(t.value)
        } else if let Some(r) = &a.ranges {
            let parts: Vec<String> = r
                .range
                .iter()
                .map(|x| format!("{}-{}", x.begin, x.end))
                .collect();
            json!(format!("[{}]", parts.join(",")))
        } else {
            Value::Null
        };
        m.insert(a.name.clone(), v);
    }
    Value::Object(m)
}

fn agent_used(core: &MasterCore, agent: &Agent) -> Resources {
    let mut used = Resources::new();
    for (fid, tid) in &agent.tasks {
        if let Some(t) = core.frameworks.get(fid).and_then(|f| f.tasks.get(tid)) {
            if !t.state.is_terminal() {
                used.add(&t.resources);
            }
        }
    }
    for fw in core.frameworks.values() {
        for ((a, _), e) in &fw.executors {
            if *a == agent.id {
                used.add(&e.resources);
            }
        }
    }
    used
}

fn agent_offered(core: &MasterCore, agent: &Agent) -> Resources {
    let mut r = Resources::new();
    for o in core.offers.values().filter(|o| o.agent_id == agent.id) {
        r.add(&o.resources);
    }
    r
}

fn agent_json(core: &MasterCore, a: &Agent) -> Value {
    let host_port = a.host_port();
    let port: u16 = host_port
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or(5051);
    // Mesos's shapes: quantities by reservation role, and the full Resource
    // objects (reservations with principal and labels, volumes) by role.
    let reserved = a.resources.total.reserved_by_role();
    let reserved_full: Map<String, Value> = reserved
        .keys()
        .map(|role| {
            let part = a.resources.total.filter(|k| k.role() == role);
            (
                role.clone(),
                serde_json::to_value(a.resources.wire(&part)).unwrap_or_default(),
            )
        })
        .collect();
    let unreserved_full = a.resources.total.filter(|k| k.reservation.is_none());
    json!({
        "id": a.id.as_str(),
        "pid": format!("slave(1)@{host_port}"),
        "hostname": a.info.hostname,
        "port": port,
        "registered_time": a.registered_time,
        "reregistered_time": a.reregistered_time,
        "resources": resources(&a.total),
        "used_resources": resources(&agent_used(core, a)),
        "offered_resources": resources(&agent_offered(core, a)),
        "reserved_resources": reserved.iter().map(|(role, r)| (role.clone(), resources(r))).collect::<Map<_, _>>(),
        "unreserved_resources": resources(&a.resources.total.unreserved()),
        "reserved_resources_full": reserved_full,
        "unreserved_resources_full": serde_json::to_value(a.resources.wire(&unreserved_full)).unwrap_or_default(),
        "attributes": attributes(&a.info.attributes),
        "active": a.active(),
        "deactivated": !a.active(),
        "connected": a.active(),
        "unreachable": matches!(a.link, AgentLink::Unreachable { .. }),
        "version": a.version,
        "isolation": a.isolation,
        "endpoint": a.endpoint,
        "capabilities": ["MULTI_ROLE", "HIERARCHICAL_ROLE", "RESERVATION_REFINEMENT"],
    })
}

/// A task in Mesos's JSON shape.
pub fn task_json(t: &Task) -> Value {
    let statuses: Vec<Value> = t
        .statuses
        .iter()
        .map(|(s, ts)| json!({"state": s.as_mesos_str(), "timestamp": ts}))
        .collect();
    let mut v = json!({
        "id": t.id.as_str(),
        "name": t.info.name,
        "framework_id": t.framework_id.as_str(),
        "executor_id": t.executor_id.as_ref().map(|e| e.as_str()).unwrap_or(""),
        "slave_id": t.agent_id.as_str(),
        "agent_id": t.agent_id.as_str(),
        "state": t.state.as_mesos_str(),
        "resources": resources(&t.resources),
        "statuses": statuses,
    });
    if let Some(st) = &t.status_update_state {
        v["status_update_state"] = json!(st.as_mesos_str());
    }
    if let Some(l) = &t.info.labels {
        v["labels"] = serde_json::to_value(&l.labels).unwrap_or(Value::Null);
    }
    if let Some(c) = &t.info.container {
        v["container"] = serde_json::to_value(c).unwrap_or(Value::Null);
    }
    if let Some(d) = &t.info.discovery {
        v["discovery"] = serde_json::to_value(d).unwrap_or(Value::Null);
    }
    if let Some(h) = t.last_status.as_ref().and_then(|s| s.healthy) {
        v["healthy"] = json!(h);
    }
    v
}

fn framework_json(core: &MasterCore, f: &Framework, now: Duration) -> Value {
    let mut used = Resources::new();
    let mut tasks = Vec::new();
    let mut unreachable = Vec::new();
    for t in f.tasks.values() {
        if !t.state.is_terminal() {
            used.add(&t.resources);
        }
        if t.state == TaskState::Unreachable {
            unreachable.push(task_json(t));
        } else {
            tasks.push(task_json(t));
        }
    }
    for e in f.executors.values() {
        used.add(&e.resources);
    }
    let mut offered = Resources::new();
    let offers: Vec<Value> = f
        .offers
        .iter()
        .filter_map(|id| core.offers.get(id))
        .map(|o| {
            offered.add(&o.resources);
            json!({
                "id": o.id.as_str(),
                "framework_id": o.framework_id.as_str(),
                "slave_id": o.agent_id.as_str(),
                "resources": resources(&o.resources),
            })
        })
        .collect();
    let executors: Vec<Value> = f
        .executors
        .iter()
        .map(|((a, e), ex)| {
            json!({
                "executor_id": e.as_str(),
                "slave_id": a.as_str(),
                "name": ex.info.name,
                "resources": resources(&ex.resources),
            })
        })
        .collect();
    let caps: Vec<Value> = f
        .info
        .capabilities
        .iter()
        .filter_map(|c| c.r#type)
        .filter_map(|t| {
            use v1::json::MesosEnum as _;
            v1::FrameworkCapabilityType::name_of(t)
        })
        .map(|s| json!(s))
        .collect();
    let connected = f.connected();
    json!({
        "id": f.id.as_str(),
        "name": f.info.name,
        "user": f.info.user,
        "hostname": f.info.hostname.clone().unwrap_or_default(),
        "webui_url": f.info.webui_url.clone().unwrap_or_default(),
        "principal": f.info.principal,
        "role": crate::core::framework_roles(&f.info).first().cloned().unwrap_or_else(|| "*".into()),
        "roles": crate::core::framework_roles(&f.info),
        "failover_timeout": f.info.failover_timeout.unwrap_or(0.0),
        "checkpoint": f.info.checkpoint.unwrap_or(false),
        "capabilities": caps,
        "active": connected && !f.suppressed,
        "connected": connected,
        "recovered": false,
        "suppressed": f.suppressed,
        "registered_time": f.registered_time,
        "reregistered_time": f.reregistered_time,
        "unregistered_time": f.unregistered_time.unwrap_or(0.0),
        "resources": resources(&used.plus(&offered)),
        "used_resources": resources(&used),
        "offered_resources": resources(&offered),
        "share": core.allocator.framework_share(&f.id),
        // Not in Mesos: how long it has wanted offers in each of its roles
        // without getting one (absent roles: it wants none there).
        "starvation": core
            .starvation_of(&f.id, now)
            .into_iter()
            .map(|(role, d)| (role, json!(d.as_secs_f64())))
            .collect::<Map<_, _>>(),
        "tasks": tasks,
        "unreachable_tasks": unreachable,
        "completed_tasks": f.completed_tasks.iter().map(task_json).collect::<Vec<_>>(),
        "offers": offers,
        "executors": executors,
        "failover_deadline_in": match f.conn {
            FrameworkConn::Disconnected { failover_deadline, since } => json!(failover_deadline.saturating_sub(since).as_secs_f64()),
            FrameworkConn::Connected { .. } => Value::Null,
        },
    })
}

fn version_fields() -> Value {
    json!({
        "version": strata_proto::MESOS_COMPAT_VERSION,
        "strata_version": env!("CARGO_PKG_VERSION"),
        "git_sha": "",
        "git_tag": "",
        "build_date": "",
        "build_time": 0,
        "build_user": "",
    })
}

/// `/version`.
pub fn version() -> Value {
    version_fields()
}

/// `/master/state`.
pub fn state(core: &MasterCore, now: Duration) -> Value {
    let c = &core.config;
    let mut v = version_fields();
    let info = core.master_info();
    let agents: Vec<Value> = core.agents.values().map(|a| agent_json(core, a)).collect();
    let activated = core.agents.values().filter(|a| a.active()).count();
    let unreachable = core
        .agents
        .values()
        .filter(|a| matches!(a.link, AgentLink::Unreachable { .. }))
        .count();
    let completed: Vec<Value> = core
        .completed_frameworks
        .iter()
        .map(|f| {
            json!({
                "id": f.id.as_str(),
                "name": f.info.name,
                "user": f.info.user,
                "active": false,
                "connected": false,
                "unregistered_time": f.removed_time,
                "tasks": [],
                "completed_tasks": f.tasks.iter().map(task_json).collect::<Vec<_>>(),
                "offers": [],
            })
        })
        .collect();
    let extra = json!({
        "id": c.master_id,
        "pid": format!("master@{}:{}", c.ip, c.port),
        "hostname": c.hostname,
        "start_time": c.start_unix,
        "elected_time": c.start_unix,
        "uptime_secs": now.as_secs_f64(),
        "leader": format!("master@{}:{}", c.ip, c.port),
        "leader_info": serde_json::to_value(&info).unwrap_or(Value::Null),
        "activated_slaves": activated,
        "deactivated_slaves": core.agents.len() - activated - unreachable,
        "unreachable_slaves": unreachable,
        "slaves": agents,
        "frameworks": core.frameworks.values().map(|f| framework_json(core, f, now)).collect::<Vec<_>>(),
        "completed_frameworks": completed,
        "orphan_tasks": [],
        "unregistered_frameworks": [],
        "flags": {
            "framework_heartbeat_interval": strata_api::format_duration(c.framework_heartbeat_interval),
            "agent_ping_timeout": strata_api::format_duration(c.agent_ping_timeout),
            "max_agent_ping_timeouts": c.max_agent_ping_timeouts.to_string(),
            "offer_timeout": c.offer_timeout.map(strata_api::format_duration),
        },
    });
    if let (Value::Object(a), Value::Object(b)) = (&mut v, extra) {
        a.extend(b);
    }
    v
}

/// `/master/slaves`.
pub fn slaves(core: &MasterCore) -> Value {
    json!({ "slaves": core.agents.values().map(|a| agent_json(core, a)).collect::<Vec<_>>() })
}

/// `/master/frameworks`.
pub fn frameworks(core: &MasterCore, now: Duration) -> Value {
    json!({
        "frameworks": core.frameworks.values().map(|f| framework_json(core, f, now)).collect::<Vec<_>>(),
        "completed_frameworks": [],
        "unregistered_frameworks": [],
    })
}

/// `/master/tasks`: every known task, running and completed.
pub fn tasks(core: &MasterCore) -> Value {
    let mut all = Vec::new();
    for f in core.frameworks.values() {
        all.extend(f.tasks.values().map(task_json));
        all.extend(f.completed_tasks.iter().map(task_json));
    }
    json!({ "tasks": all })
}

/// `/metrics/snapshot`.
pub fn metrics(core: &MasterCore, now: Duration) -> Value {
    let mut m = Map::new();
    let mut put = |k: &str, v: f64| {
        m.insert(k.to_owned(), json!(v));
    };
    let agents = &core.agents;
    let active = agents.values().filter(|a| a.active()).count() as f64;
    let unreachable = agents
        .values()
        .filter(|a| matches!(a.link, AgentLink::Unreachable { .. }))
        .count() as f64;
    put("master/uptime_secs", now.as_secs_f64());
    put("master/elected", 1.0);
    put("master/slaves_active", active);
    put("master/slaves_connected", active);
    put(
        "master/slaves_disconnected",
        agents.len() as f64 - active - unreachable,
    );
    put("master/slaves_inactive", agents.len() as f64 - active);
    put("master/slaves_unreachable", unreachable);
    put(
        "master/slave_unreachable_completed",
        core.counters.agents_unreachable as f64,
    );
    let fws = &core.frameworks;
    let connected = fws.values().filter(|f| f.connected()).count() as f64;
    put("master/frameworks_connected", connected);
    put(
        "master/frameworks_disconnected",
        fws.len() as f64 - connected,
    );
    put(
        "master/frameworks_active",
        fws.values()
            .filter(|f| f.connected() && !f.suppressed)
            .count() as f64,
    );
    put(
        "master/frameworks_inactive",
        fws.values()
            .filter(|f| !f.connected() || f.suppressed)
            .count() as f64,
    );
    put(
        "master/frameworks_completed",
        core.completed_frameworks.len() as f64,
    );
    put("master/outstanding_offers", core.offers.len() as f64);
    for state in [
        TaskState::Staging,
        TaskState::Starting,
        TaskState::Running,
        TaskState::Killing,
        TaskState::Unreachable,
    ] {
        let n = fws
            .values()
            .flat_map(|f| f.tasks.values())
            .filter(|t| t.state == state)
            .count();
        put(
            &format!("master/tasks_{}", state.as_mesos_str()[5..].to_lowercase()),
            n as f64,
        );
    }
    for state in TaskState::ALL.into_iter().filter(|s| s.is_terminal()) {
        let n = core
            .counters
            .terminal_tasks
            .get(&state)
            .copied()
            .unwrap_or(0);
        put(
            &format!("master/tasks_{}", state.as_mesos_str()[5..].to_lowercase()),
            n as f64,
        );
    }
    put("master/tasks_launched", core.counters.tasks_launched as f64);
    put(
        "master/messages_status_update",
        core.counters.status_updates as f64,
    );
    put("master/offers_sent", core.counters.offers_sent as f64);
    put(
        "master/offers_accepted",
        core.counters.offers_accepted as f64,
    );
    put(
        "master/offers_declined",
        core.counters.offers_declined as f64,
    );
    put(
        "master/offers_rescinded",
        core.counters.offers_rescinded as f64,
    );
    put(
        "master/invalid_scheduler_calls",
        core.counters.invalid_calls as f64,
    );
    // How long each active framework and role has wanted resources without an offer.
    for (who, waited) in core.allocator.starvation(now) {
        let key = match who {
            strata_master_allocator::Starving::Framework(id) => {
                format!("allocator/starvation/frameworks/{id}_secs")
            }
            strata_master_allocator::Starving::Role(role) => {
                format!("allocator/starvation/roles/{role}_secs")
            }
        };
        put(&key, waited.as_secs_f64());
    }
    for (role, weight) in core.allocator.weights() {
        put(&format!("allocator/roles/{role}/weight"), weight);
        put(
            &format!("allocator/roles/{role}/share"),
            core.allocator.role_share(&role),
        );
    }
    for ((operation, outcome), n) in &core.counters.operations {
        put(
            &format!("master/operations/{}/{outcome}", operation.to_lowercase()),
            *n as f64,
        );
    }
    for (name, n) in &core.counters.calls {
        put(&format!("master/calls/{}", name.to_lowercase()), *n as f64);
    }
    // Resources: total over active agents, used by tasks, offered outstanding.
    let mut total = Resources::new();
    let mut used = Resources::new();
    let mut offered = Resources::new();
    for a in agents.values().filter(|a| a.active()) {
        total.add(&a.total);
        used.add(&agent_used(core, a));
        offered.add(&agent_offered(core, a));
    }
    for k in ["cpus", "mem", "disk", "gpus"] {
        let t = total.scalar(k);
        put(&format!("master/{k}_total"), t);
        put(&format!("master/{k}_used"), used.scalar(k));
        put(&format!("master/{k}_offered"), offered.scalar(k));
        put(
            &format!("master/{k}_percent"),
            if t > 0.0 { used.scalar(k) / t } else { 0.0 },
        );
    }
    for (name, set) in [("ports", ())]
        .iter()
        .map(|(n, _)| (*n, total.range_set(n).map(|s| s.count()).unwrap_or(0)))
    {
        put(&format!("master/{name}_total"), set as f64);
        put(
            &format!("master/{name}_used"),
            used.range_set(name).map(|s| s.count()).unwrap_or(0) as f64,
        );
        put(
            &format!("master/{name}_offered"),
            offered.range_set(name).map(|s| s.count()).unwrap_or(0) as f64,
        );
    }
    Value::Object(m)
}

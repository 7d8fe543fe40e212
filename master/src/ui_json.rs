//! Paginated, server-side-filtered views for the web UI
//! (`/api/v1/ui/...`): a page of tasks or agents costs the size of the page,
//! never a whole-state download.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};
use strata_api::{Resources, TaskState};

use crate::core::{AgentLink, MasterCore, Task};
use crate::state_json::{resources, task_json};

/// Largest page served.
pub const MAX_LIMIT: usize = 500;

/// Filters and paging for `/api/v1/ui/tasks` and `/api/v1/ui/agents`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PageQuery {
    /// Task state name, e.g. `TASK_RUNNING` (tasks only).
    pub state: Option<String>,
    /// Framework id (tasks only).
    pub framework: Option<String>,
    /// Agent id (tasks only).
    pub agent: Option<String>,
    /// Case-insensitive substring of the id or name.
    pub q: Option<String>,
    /// First item (0-based).
    #[serde(default)]
    pub offset: usize,
    /// Page size (default 50, at most [`MAX_LIMIT`]).
    pub limit: Option<usize>,
}

impl PageQuery {
    fn limit(&self) -> usize {
        self.limit.unwrap_or(50).clamp(1, MAX_LIMIT)
    }

    fn matches_text(&self, fields: &[&str]) -> bool {
        match self.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
            None => true,
            Some(q) => {
                let q = q.to_lowercase();
                fields.iter().any(|f| f.to_lowercase().contains(&q))
            }
        }
    }
}

/// `/api/v1/ui/overview`: totals, counts, offer flow, per-framework shares.
pub fn overview(core: &MasterCore, now: Duration) -> Value {
    let mut total = Resources::new();
    let mut used = Resources::new();
    let mut offered = Resources::new();
    for a in core.agents.values().filter(|a| a.active()) {
        total.add(&a.total);
    }
    for f in core.frameworks.values() {
        for t in f.tasks.values().filter(|t| !t.state.is_terminal()) {
            if core.agents.get(&t.agent_id).is_some_and(|a| a.active()) {
                used.add(&t.resources);
            }
        }
        for e in f.executors.values() {
            used.add(&e.resources);
        }
    }
    for o in core.offers.values() {
        offered.add(&o.resources);
    }
    let idle = total.minus(&used).minus(&offered);
    let mut by_state = serde_json::Map::new();
    for st in TaskState::ALL {
        let n = core
            .frameworks
            .values()
            .flat_map(|f| f.tasks.values().chain(f.completed_tasks.iter()))
            .filter(|t| t.state == st)
            .count();
        if n > 0 {
            by_state.insert(st.as_mesos_str().into(), json!(n));
        }
    }
    let frameworks: Vec<Value> = core
        .frameworks
        .values()
        .map(|f| {
            let c = core.events.offer_counts.get(f.id.as_str()).copied().unwrap_or_default();
            json!({
                "id": f.id.as_str(),
                "name": f.info.name,
                "connected": f.connected(),
                "suppressed": f.suppressed,
                "share": core.allocator.framework_share(&f.id),
                "tasks": f.tasks.values().filter(|t| !t.state.is_terminal()).count(),
                "offers": {"received": c.received, "accepted": c.accepted, "declined": c.declined, "rescinded": c.rescinded},
            })
        })
        .collect();
    let port_count = |r: &Resources| r.range_set("ports").map(|s| s.count()).unwrap_or(0);
    json!({
        "uptime_secs": now.as_secs_f64(),
        "master": {"id": core.config.master_id, "hostname": core.config.hostname, "port": core.config.port},
        "resources": {
            "total": resources(&total),
            "used": resources(&used),
            "offered": resources(&offered),
            "idle": resources(&idle),
            "ports": {"total": port_count(&total), "used": port_count(&used), "offered": port_count(&offered)},
        },
        "agents": {
            "active": core.agents.values().filter(|a| a.active()).count(),
            "unreachable": core.agents.values().filter(|a| matches!(a.link, AgentLink::Unreachable { .. })).count(),
            "total": core.agents.len(),
        },
        "frameworks": frameworks,
        "tasks_by_state": by_state,
        "outstanding_offers": core.offers.len(),
        "recent_offer_events": core.events.recent_offers(),
    })
}

/// `/api/v1/ui/tasks`: running and completed tasks, filtered and paged.
pub fn tasks(core: &MasterCore, q: &PageQuery) -> Value {
    let state = q.state.as_deref().filter(|s| !s.is_empty());
    let matches = |t: &&Task| {
        state.is_none_or(|s| t.state.as_mesos_str() == s)
            && q.framework
                .as_deref()
                .filter(|s| !s.is_empty())
                .is_none_or(|f| t.framework_id.as_str() == f)
            && q.agent
                .as_deref()
                .filter(|s| !s.is_empty())
                .is_none_or(|a| t.agent_id.as_str() == a)
            && q.matches_text(&[t.id.as_str(), &t.info.name])
    };
    let mut total = 0usize;
    let mut items = Vec::new();
    let (offset, limit) = (q.offset, q.limit());
    for f in core.frameworks.values() {
        for t in f
            .tasks
            .values()
            .chain(f.completed_tasks.iter().rev())
            .filter(matches)
        {
            if total >= offset && items.len() < limit {
                items.push(task_json(t));
            }
            total += 1;
        }
    }
    json!({"total": total, "offset": offset, "limit": limit, "items": items})
}

/// `/api/v1/ui/agents`: agents, filtered by id or hostname, paged.
pub fn agents(core: &MasterCore, q: &PageQuery) -> Value {
    let mut total = 0usize;
    let mut items = Vec::new();
    let (offset, limit) = (q.offset, q.limit());
    for a in core
        .agents
        .values()
        .filter(|a| q.matches_text(&[a.id.as_str(), &a.info.hostname]))
    {
        if total >= offset && items.len() < limit {
            let tasks = a.tasks.len();
            items.push(json!({
                "id": a.id.as_str(),
                "hostname": a.info.hostname,
                "endpoint": a.endpoint,
                "active": a.active(),
                "unreachable": matches!(a.link, AgentLink::Unreachable { .. }),
                "resources": resources(&a.total),
                "free": core.allocator.agent_free(&a.id).map(|r| resources(&r)),
                "isolation": a.isolation,
                "tasks": tasks,
                "attributes": a.info.attributes.iter().map(|x| serde_json::to_value(x).unwrap_or_default()).collect::<Vec<_>>(),
            }));
        }
        total += 1;
    }
    json!({"total": total, "offset": offset, "limit": limit, "items": items})
}

/// `/api/v1/ui/offers`: outstanding offers with their age.
pub fn offers(core: &MasterCore, now: Duration) -> Value {
    let _ = now;
    let items: Vec<Value> = core
        .offers
        .values()
        .map(|o| {
            json!({
                "id": o.id.as_str(),
                "framework_id": o.framework_id.as_str(),
                "agent_id": o.agent_id.as_str(),
                "role": "*",
                "resources": resources(&o.resources),
                "expires_in_secs": o.expires_at.map(|t| t.saturating_sub(now).as_secs_f64()),
            })
        })
        .collect();
    json!({"total": items.len(), "items": items})
}

/// `/api/v1/ui/tasks/{framework}/{task}`: one task with its history and
/// where its sandbox lives.
pub fn task_detail(core: &MasterCore, framework: &str, task: &str) -> Option<Value> {
    let f = core.frameworks.get(&framework.into())?;
    let t = f.tasks.get(&task.into()).or_else(|| {
        f.completed_tasks
            .iter()
            .rev()
            .find(|t| t.id.as_str() == task)
    })?;
    let mut v = task_json(t);
    v["framework_name"] = json!(f.info.name);
    v["agent_endpoint"] = json!(core.agents.get(&t.agent_id).map(|a| a.endpoint.clone()));
    v["last_status"] = t
        .last_status
        .as_ref()
        .map(|s| serde_json::to_value(s).unwrap_or_default())
        .unwrap_or_default();
    v["info"] = serde_json::to_value(&t.info).unwrap_or_default();
    Some(v)
}

/// The HTTP endpoint of an agent, for proxying its `/files` and `/state`.
pub fn agent_endpoint(core: &MasterCore, agent: &str) -> Option<String> {
    core.agents.get(&agent.into()).map(|a| a.endpoint.clone())
}

//! Paginated, server-side-filtered views for the web UI
//! (`/api/v1/ui/...`): a page of tasks or agents costs the size of the page,
//! never a whole-state download.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};
use strata_api::{FrameworkId, Resources, TaskState};

use crate::core::{AgentLink, FrameworkConn, MasterCore, Task};
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
    /// Exact id (agents only): the detail page of one agent.
    pub id: Option<String>,
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
    // Port ranges of different agents overlap (every agent has 31000-32000),
    // so adding Resources merges them: ports are counted per agent instead.
    let port_count = |r: &Resources| r.range_set("ports").map(|s| s.count()).unwrap_or(0);
    let (mut ports_total, mut ports_used, mut ports_offered) = (0u64, 0u64, 0u64);
    let mut total = Resources::new();
    let mut used = Resources::new();
    let mut offered = Resources::new();
    for a in core.agents.values().filter(|a| a.active()) {
        total.add(&a.total);
        ports_total += port_count(&a.total);
    }
    for f in core.frameworks.values() {
        for t in f.tasks.values().filter(|t| !t.state.is_terminal()) {
            if core.agents.get(&t.agent_id).is_some_and(|a| a.active()) {
                used.add(&t.resources);
                ports_used += port_count(&t.resources);
            }
        }
        for e in f.executors.values() {
            used.add(&e.resources);
            ports_used += port_count(&e.resources);
        }
    }
    for o in core.offers.values() {
        offered.add(&o.resources);
        ports_offered += port_count(&o.resources);
    }
    let idle = total.minus(&used).minus(&offered);
    // One pass over the tasks, not one per state: this runs on every refresh.
    let mut counts: BTreeMap<TaskState, usize> = BTreeMap::new();
    for t in core
        .frameworks
        .values()
        .flat_map(|f| f.tasks.values().chain(f.completed_tasks.iter()))
        .chain(
            core.completed_frameworks
                .iter()
                .flat_map(|f| f.tasks.iter()),
        )
    {
        *counts.entry(t.state).or_default() += 1;
    }
    let by_state: serde_json::Map<String, Value> = counts
        .into_iter()
        .map(|(st, n)| (st.as_mesos_str().to_owned(), json!(n)))
        .collect();
    let frameworks: Vec<Value> = core
        .frameworks
        .values()
        .map(|f| {
            let c = core.events.offer_counts.get(f.id.as_str()).copied().unwrap_or_default();
            let mut used = Resources::new();
            let mut active = 0usize;
            for t in f.tasks.values().filter(|t| !t.state.is_terminal()) {
                used.add(&t.resources);
                active += 1;
            }
            for e in f.executors.values() {
                used.add(&e.resources);
            }
            let mut offered = Resources::new();
            for o in f.offers.iter().filter_map(|id| core.offers.get(id)) {
                offered.add(&o.resources);
            }
            let failover_in = match f.conn {
                FrameworkConn::Disconnected { failover_deadline, .. } => {
                    json!(failover_deadline.saturating_sub(now).as_secs_f64())
                }
                FrameworkConn::Connected { .. } => Value::Null,
            };
            json!({
                "id": f.id.as_str(),
                "name": f.info.name,
                "user": f.info.user,
                "hostname": f.info.hostname.clone().unwrap_or_default(),
                "principal": f.info.principal,
                "role": f.info.role.clone().unwrap_or_else(|| "*".into()),
                "webui_url": f.info.webui_url.clone().unwrap_or_default(),
                "failover_timeout": f.info.failover_timeout.unwrap_or(0.0),
                "failover_in_secs": failover_in,
                "registered_time": f.registered_time,
                "reregistered_time": f.reregistered_time,
                "unregistered_time": f.unregistered_time,
                "connected": f.connected(),
                "suppressed": f.suppressed,
                "share": core.allocator.framework_share(&f.id),
                "tasks": active,
                "completed_tasks": f.completed_tasks.len(),
                "used": resources(&used),
                "offered": resources(&offered),
                "outstanding_offers": f.offers.len(),
                "offers": {"received": c.received, "accepted": c.accepted, "declined": c.declined, "rescinded": c.rescinded},
            })
        })
        .collect();
    let completed_frameworks: Vec<Value> = core
        .completed_frameworks
        .iter()
        .rev()
        .map(|f| {
            json!({
                "id": f.id.as_str(),
                "name": f.info.name,
                "role": f.info.role.clone().unwrap_or_else(|| "*".into()),
                "removed_time": f.removed_time,
                "tasks": f.tasks.len(),
            })
        })
        .collect();
    json!({
        "uptime_secs": now.as_secs_f64(),
        "master": {"id": core.config.master_id, "hostname": core.config.hostname, "port": core.config.port},
        "resources": {
            "total": resources(&total),
            "used": resources(&used),
            "offered": resources(&offered),
            "idle": resources(&idle),
            "ports": {"total": ports_total, "used": ports_used, "offered": ports_offered},
        },
        "agents": {
            "active": core.agents.values().filter(|a| a.active()).count(),
            "unreachable": core.agents.values().filter(|a| matches!(a.link, AgentLink::Unreachable { .. })).count(),
            "total": core.agents.len(),
        },
        "frameworks": frameworks,
        "completed_frameworks": completed_frameworks,
        "tasks_by_state": by_state,
        "outstanding_offers": core.offers.len(),
        "recent_offer_events": core.events.recent_offers(),
    })
}

/// `/api/v1/ui/tasks`: running and completed tasks, filtered and paged,
/// newest launch first (ties by id), so pages are stable between refreshes.
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
    // Tasks of removed frameworks too (bounded by the completed-frameworks
    // history): a torn-down framework's tasks stay inspectable.
    let mut found: Vec<&Task> = core
        .frameworks
        .values()
        .flat_map(|f| f.tasks.values().chain(f.completed_tasks.iter()))
        .chain(
            core.completed_frameworks
                .iter()
                .flat_map(|f| f.tasks.iter()),
        )
        .filter(matches)
        .collect();
    let total = found.len();
    let (offset, limit) = (q.offset, q.limit());
    let newest_first = |a: &&Task, b: &&Task| {
        let launched = |t: &Task| t.statuses.first().map(|(_, ts)| *ts).unwrap_or(0.0);
        launched(b)
            .total_cmp(&launched(a))
            .then_with(|| a.id.as_str().cmp(b.id.as_str()))
            .then_with(|| a.framework_id.as_str().cmp(b.framework_id.as_str()))
    };
    // Select the page instead of sorting everything: linear in the matches.
    let items: Vec<Value> = if offset >= total {
        Vec::new()
    } else {
        if offset > 0 {
            found.select_nth_unstable_by(offset, newest_first);
        }
        let rest = &mut found[offset..];
        let n = limit.min(rest.len());
        if n < rest.len() {
            rest.select_nth_unstable_by(n, newest_first);
        }
        let page = &mut rest[..n];
        page.sort_unstable_by(newest_first);
        page.iter()
            .map(|t| {
                let mut v = task_json(t);
                v["framework_name"] = json!(framework_name(core, &t.framework_id));
                v["agent_hostname"] = json!(core.agents.get(&t.agent_id).map(|a| &a.info.hostname));
                v
            })
            .collect()
    };
    json!({"total": total, "offset": offset, "limit": limit, "items": items})
}

/// The name of a framework, subscribed or removed.
fn framework_name<'a>(core: &'a MasterCore, id: &FrameworkId) -> Option<&'a str> {
    core.frameworks
        .get(id)
        .map(|f| f.info.name.as_str())
        .or_else(|| {
            core.completed_frameworks
                .iter()
                .find(|f| f.id == *id)
                .map(|f| f.info.name.as_str())
        })
}

/// `/api/v1/ui/agents`: agents, filtered by id or hostname, paged.
pub fn agents(core: &MasterCore, q: &PageQuery) -> Value {
    let mut total = 0usize;
    let mut items = Vec::new();
    let (offset, limit) = (q.offset, q.limit());
    for a in core.agents.values().filter(|a| {
        q.id.as_deref().is_none_or(|id| a.id.as_str() == id)
            && q.matches_text(&[a.id.as_str(), &a.info.hostname])
    }) {
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
                "version": a.version,
                "registered_time": a.registered_time,
                "tasks": tasks,
                "attributes": a.info.attributes.iter().map(|x| serde_json::to_value(x).unwrap_or_default()).collect::<Vec<_>>(),
            }));
        }
        total += 1;
    }
    json!({"total": total, "offset": offset, "limit": limit, "items": items})
}

/// `/api/v1/ui/offers`: outstanding offers, newest first, with the names
/// of their framework and agent.
pub fn offers(core: &MasterCore, now: Duration) -> Value {
    let mut offers: Vec<_> = core.offers.values().collect();
    // Offer ids end in a sequence number (`<master>-O<n>`).
    let seq = |id: &str| {
        id.rsplit_once("-O")
            .and_then(|(_, n)| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    offers.sort_unstable_by_key(|o| std::cmp::Reverse(seq(o.id.as_str())));
    let items: Vec<Value> = offers
        .into_iter()
        .map(|o| {
            json!({
                "id": o.id.as_str(),
                "framework_id": o.framework_id.as_str(),
                "framework_name": core.frameworks.get(&o.framework_id).map(|f| f.info.name.clone()),
                "agent_id": o.agent_id.as_str(),
                "hostname": core.agents.get(&o.agent_id).map(|a| a.info.hostname.clone()),
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
    let (t, framework_name) = match core.frameworks.get(&framework.into()) {
        Some(f) => (
            f.tasks.get(&task.into()).or_else(|| {
                f.completed_tasks
                    .iter()
                    .rev()
                    .find(|t| t.id.as_str() == task)
            })?,
            &f.info.name,
        ),
        None => {
            let f = core
                .completed_frameworks
                .iter()
                .rev()
                .find(|f| f.id.as_str() == framework)?;
            (
                f.tasks.iter().find(|t| t.id.as_str() == task)?,
                &f.info.name,
            )
        }
    };
    let mut v = task_json(t);
    v["framework_name"] = json!(framework_name);
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

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet, VecDeque};

    use strata_api::{AgentId, TaskId};
    use strata_proto::convert::resources_to_wire;
    use strata_proto::{internal, v1};
    use tokio::sync::mpsc;

    use super::*;
    use crate::core::{CompletedFramework, CoreConfig, Framework};

    fn add_agent(core: &mut MasterCore, res: &str) -> AgentId {
        let (tx, rx) = mpsc::unbounded_channel();
        std::mem::forget(rx);
        let session = core.new_session();
        let reg = internal::Register {
            agent_info: Some(v1::AgentInfo {
                hostname: "127.0.0.1".into(),
                resources: resources_to_wire(&res.parse().unwrap()),
                ..Default::default()
            }),
            http_endpoint: "http://127.0.0.1:5051".into(),
            ..Default::default()
        };
        core.register_agent(Duration::ZERO, reg, session, tx)
            .unwrap()
    }

    fn task(fw: &FrameworkId, agent: &AgentId, id: &str, state: TaskState, launched: f64) -> Task {
        Task {
            id: TaskId(id.into()),
            framework_id: fw.clone(),
            agent_id: agent.clone(),
            executor_id: None,
            info: v1::TaskInfo {
                name: id.into(),
                ..Default::default()
            },
            resources: "cpus:0.1;mem:32".parse().unwrap(),
            state,
            status_update_state: None,
            statuses: vec![(state, launched)],
            last_status: None,
            unacked: Vec::new(),
            role: "*".into(),
        }
    }

    /// Two agents, a framework with 120 running tasks launched one second
    /// apart, and a removed framework with one finished task.
    fn cluster() -> (MasterCore, AgentId) {
        let mut core = MasterCore::new(CoreConfig::default());
        let a = add_agent(&mut core, "cpus:4;mem:4096;ports:[31000-32000]");
        add_agent(&mut core, "cpus:4;mem:4096;ports:[31000-32000]");
        let fid = FrameworkId("fw".into());
        let mut tasks = HashMap::new();
        for i in 0..120 {
            let t = task(
                &fid,
                &a,
                &format!("t{i}"),
                TaskState::Running,
                1000.0 + i as f64,
            );
            tasks.insert(t.id.clone(), t);
        }
        core.frameworks.insert(
            fid.clone(),
            Framework {
                id: fid,
                info: v1::FrameworkInfo {
                    name: "web".into(),
                    ..Default::default()
                },
                conn: FrameworkConn::Disconnected {
                    since: Duration::ZERO,
                    failover_deadline: Duration::from_secs(60),
                },
                registered_time: 1.0,
                reregistered_time: None,
                unregistered_time: None,
                tasks,
                completed_tasks: VecDeque::new(),
                offers: HashSet::new(),
                executors: HashMap::new(),
                suppressed: false,
            },
        );
        let gone = FrameworkId("gone".into());
        core.completed_frameworks.push_back(CompletedFramework {
            id: gone.clone(),
            info: v1::FrameworkInfo {
                name: "old".into(),
                ..Default::default()
            },
            removed_time: 2.0,
            tasks: vec![task(&gone, &a, "done", TaskState::Finished, 10.0)],
        });
        (core, a)
    }

    fn page(core: &MasterCore, q: PageQuery) -> (u64, Vec<String>) {
        let v = tasks(core, &q);
        let ids = v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_str().unwrap().to_owned())
            .collect();
        (v["total"].as_u64().unwrap(), ids)
    }

    #[test]
    fn task_pages_are_disjoint_newest_first_and_include_removed_frameworks() {
        let (core, _) = cluster();
        let q = |offset| PageQuery {
            offset,
            limit: Some(50),
            ..Default::default()
        };
        let (total, first) = page(&core, q(0));
        assert_eq!(total, 121);
        assert_eq!(first[0], "t119");
        assert_eq!(first[49], "t70");
        let (_, second) = page(&core, q(50));
        assert_eq!(second[0], "t69");
        let (_, last) = page(&core, q(100));
        assert_eq!(last.len(), 21);
        assert_eq!(last.last().unwrap(), "done", "the removed framework's task");
        assert_eq!(page(&core, q(500)).1.len(), 0);
        let finished = PageQuery {
            state: Some("TASK_FINISHED".into()),
            ..Default::default()
        };
        assert_eq!(page(&core, finished), (1, vec!["done".to_owned()]));
        let v = tasks(&core, &q(0));
        assert_eq!(v["items"][0]["framework_name"], "web");
        assert_eq!(v["items"][0]["agent_hostname"], "127.0.0.1");
        let detail = task_detail(&core, "gone", "done").expect("a removed framework's task");
        assert_eq!(detail["framework_name"], "old");
    }

    #[test]
    fn the_overview_counts_ports_per_agent_and_tasks_by_state() {
        let (core, a) = cluster();
        let v = overview(&core, Duration::from_secs(5));
        assert_eq!(v["resources"]["ports"]["total"], 2002);
        assert_eq!(v["resources"]["total"]["cpus"], 8.0);
        assert_eq!(v["tasks_by_state"]["TASK_RUNNING"], 120);
        assert_eq!(v["tasks_by_state"]["TASK_FINISHED"], 1);
        assert_eq!(v["frameworks"][0]["name"], "web");
        assert_eq!(v["frameworks"][0]["failover_in_secs"], 55.0);
        assert_eq!(v["completed_frameworks"][0]["name"], "old");
        let one = agents(
            &core,
            &PageQuery {
                id: Some(a.as_str().to_owned()),
                ..Default::default()
            },
        );
        assert_eq!(one["total"], 1);
        assert_eq!(one["items"][0]["id"], a.as_str());
    }
}

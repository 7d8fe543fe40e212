//! The agent's `/state` in Mesos's JSON shape, plus what Strata adds: the
//! isolation in force and, per executor, its cgroup memory limit file.

use serde_json::{json, Value};
use strata_api::Resources;

use crate::actor::{Agent, AgentTask, ExecState};

fn resources(r: &Resources) -> Value {
    strata_proto::convert::resources_json(r)
}

fn task_json(t: &AgentTask, fid: &str, eid: &str, agent_id: &str) -> Value {
    let res = crate::volumes::amounts_from_wire(&t.info.resources).unwrap_or_default();
    json!({
        "id": t.info.task_id.as_ref().map(|x| x.value.clone()).unwrap_or_default(),
        "name": t.info.name,
        "framework_id": fid,
        "executor_id": eid,
        "slave_id": agent_id,
        "state": t.state.as_mesos_str(),
        "resources": resources(&res),
    })
}

/// Renders `/state`.
pub fn state(agent: &Agent) -> Value {
    let cfg = agent.config();
    let agent_id = agent.agent_id().unwrap_or("");
    let cz = agent.containerizer();
    let mut frameworks: std::collections::BTreeMap<String, Vec<Value>> = Default::default();
    for ((fid, eid), e) in agent.executors() {
        let limit_file = e.container.as_ref().and_then(|c| cz.memory_limit_file(c));
        let usage = e.container.as_ref().and_then(|c| cz.usage(c));
        let tasks: Vec<Value> = e
            .tasks
            .values()
            .filter(|t| !t.state.is_terminal())
            .map(|t| task_json(t, fid.as_str(), eid.as_str(), agent_id))
            .collect();
        let completed: Vec<Value> = e
            .tasks
            .values()
            .filter(|t| t.state.is_terminal())
            .map(|t| task_json(t, fid.as_str(), eid.as_str(), agent_id))
            .collect();
        let state = match e.state {
            ExecState::Launching => "LAUNCHING",
            ExecState::Subscribed { .. } => "RUNNING",
            ExecState::Disconnected => "DISCONNECTED",
            ExecState::Terminating { .. } => "TERMINATING",
        };
        frameworks.entry(fid.to_string()).or_default().push(json!({
            "id": eid.as_str(),
            "name": e.info.name.clone().unwrap_or_default(),
            "source": e.info.source.clone().unwrap_or_default(),
            "container": e.container_id,
            "directory": e.directory.display().to_string(),
            "resources": resources(&e.limits),
            "state": state,
            "command_executor": e.command_executor,
            "pid": e.container.as_ref().map(|c| c.pid),
            "cgroup_memory_limit_file": limit_file.map(|p| p.display().to_string()),
            "usage": usage.map(|u| json!({"mem_rss_bytes": u.mem_rss_bytes, "cpus_time_secs": u.cpu_seconds})),
            "tasks": tasks,
            "queued_tasks": [],
            "completed_tasks": completed,
        }));
    }
    for ((fid, tid), t) in agent.docker_tasks() {
        let task = AgentTask {
            info: t.info.clone(),
            state: t.state,
        };
        frameworks.entry(fid.to_string()).or_default().push(json!({
            "id": tid.as_str(),
            "name": format!("Docker task {tid}"),
            "type": "DOCKER",
            "container": t.container_id,
            "docker_container": t.container.as_ref().map(|c| c.name.clone()),
            "directory": t.directory.display().to_string(),
            "state": if t.container.is_some() { "RUNNING" } else { "LAUNCHING" },
            "command_executor": false,
            "pid": t.container.as_ref().and_then(|c| c.pid),
            "cgroup_memory_limit_file": Value::Null,
            "tasks": if t.state.is_terminal() { vec![] } else { vec![task_json(&task, fid.as_str(), tid.as_str(), agent_id)] },
            "queued_tasks": [],
            "completed_tasks": [],
        }));
    }
    let mut completed_by_fw: std::collections::BTreeMap<String, Vec<Value>> = Default::default();
    for c in agent.completed_executors() {
        completed_by_fw.entry(c.framework_id.to_string()).or_default().push(json!({
            "id": c.id.as_str(),
            "name": c.name,
            "directory": c.directory.display().to_string(),
            "termination": c.termination,
            "tasks": [],
            "completed_tasks": c.tasks.iter().map(|t| task_json(t, c.framework_id.as_str(), c.id.as_str(), agent_id)).collect::<Vec<_>>(),
        }));
    }
    let mut fw_ids: std::collections::BTreeSet<String> = frameworks.keys().cloned().collect();
    fw_ids.extend(completed_by_fw.keys().cloned());
    let fws: Vec<Value> = fw_ids
        .into_iter()
        .map(|fid| {
            let info = agent
                .frameworks()
                .get(&strata_api::FrameworkId(fid.clone()));
            json!({
                "id": fid,
                "name": info.map(|i| i.name.clone()).unwrap_or_default(),
                "user": info.map(|i| i.user.clone()).unwrap_or_default(),
                "executors": frameworks.get(&fid).cloned().unwrap_or_default(),
                "completed_executors": completed_by_fw.get(&fid).cloned().unwrap_or_default(),
            })
        })
        .collect();
    let attrs: serde_json::Map<String, Value> = agent
        .attributes()
        .iter()
        .map(|a| {
            let v = a
                .scalar
                .as_ref()
                .map(|s| json!(s.value))
                .or_else(|| a.text.as_ref().map(|t| json!(t.value)))
                .unwrap_or(Value::Null);
            (a.name.clone(), v)
        })
        .collect();
    json!({
        "version": strata_proto::MESOS_COMPAT_VERSION,
        "strata_version": env!("CARGO_PKG_VERSION"),
        "id": agent_id,
        "pid": format!("slave(1)@{}", cfg.listen),
        "hostname": cfg.hostname,
        "port": cfg.listen.port(),
        "start_time": agent.started(),
        "master_hostname": cfg.master,
        "connected_to_master": agent.connected(),
        "resources": resources(agent.resources()),
        "attributes": attrs,
        "isolation": cz.isolation().describe(),
        "containerizers": if agent.docker_status().1 { json!(["mesos", "docker"]) } else { json!(["mesos"]) },
        "docker": {"available": agent.docker_status().1, "status": agent.docker_status().0},
        "isolated": cz.isolation().is_isolated(),
        "frameworks": fws,
        "completed_frameworks": [],
        "flags": {
            "work_dir": cfg.work_dir.display().to_string(),
            "master": cfg.master,
            "launcher": cfg.launcher.display().to_string(),
            "command_executor_binary": cfg.command_executor.as_ref().map(|p| p.display().to_string()),
            "cgroups_root": cfg.cgroups_root,
            "executor_shutdown_grace_period": strata_api::format_duration(cfg.executor_shutdown_grace_period),
        },
    })
}

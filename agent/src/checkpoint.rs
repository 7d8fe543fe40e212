//! The agent's checkpoint: what it runs, written under `work_dir/meta` so
//! that a restarted agent (same work dir) finds its executors, their tasks and
//! the status updates not yet acknowledged.
//!
//! Each record is a JSON file replaced atomically (write a temporary file,
//! then rename), so a `kill -9` at any moment leaves either the old or the new
//! record, never a torn one. Records are not fsynced: they survive the agent's
//! death, not the machine's.
//!
//! Layout:
//! ```text
//! meta/agent.json                                   {"agent_id": ...}
//! meta/frameworks/<fw>.json                         FrameworkInfo
//! meta/executors/<fw>/<executor>.json               ExecutorRecord (info, container, tasks)
//! meta/updates/<fw>/<task>.json                     pending status updates, oldest first
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use strata_proto::v1;
use tracing::warn;

/// One executor as checkpointed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExecutorRecord {
    /// Its framework.
    pub framework_id: String,
    /// Its id.
    pub executor_id: String,
    /// Its ExecutorInfo.
    pub info: v1::ExecutorInfo,
    /// True for the command executor.
    pub command_executor: bool,
    /// True for a Docker task the agent runs itself.
    #[serde(default)]
    pub docker: bool,
    /// Container id.
    pub container_id: String,
    /// Sandbox.
    pub directory: PathBuf,
    /// The container's main pid, once started.
    pub pid: Option<u32>,
    /// Limits in Mesos text form.
    pub limits: String,
    /// Tasks: the TaskInfo and latest state name.
    pub tasks: Vec<TaskRecord>,
}

/// A task as checkpointed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskRecord {
    /// The TaskInfo.
    pub info: v1::TaskInfo,
    /// The latest state (`TASK_RUNNING`, ...).
    pub state: String,
}

/// What a restarted agent finds.
#[derive(Debug, Default)]
pub struct Recovered {
    /// The agent id it had.
    pub agent_id: Option<String>,
    /// Frameworks it ran tasks for.
    pub frameworks: Vec<v1::FrameworkInfo>,
    /// Executors it had started.
    pub executors: Vec<ExecutorRecord>,
    /// Pending status updates per (framework, task).
    pub updates: Vec<(String, String, Vec<v1::TaskStatus>)>,
}

/// The checkpoint directory.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    root: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct AgentRecord {
    agent_id: String,
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Option<T> {
    let bytes = std::fs::read(path).ok()?;
    match serde_json::from_slice(&bytes) {
        Ok(v) => Some(v),
        Err(e) => {
            warn!(path = %path.display(), error = %e, "unreadable checkpoint record ignored");
            None
        }
    }
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = rd
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    out.sort();
    out
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    rd.flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect()
}

impl Checkpoint {
    /// The checkpoint under `work_dir/meta`.
    pub fn new(work_dir: &Path) -> Self {
        Self {
            root: work_dir.join("meta"),
        }
    }

    fn log<T>(r: std::io::Result<T>, what: &str) {
        if let Err(e) = r {
            warn!(error = %e, "checkpoint write failed: {what}");
        }
    }

    /// Records the agent id.
    pub fn save_agent_id(&self, id: &str) {
        let bytes = serde_json::to_vec(&AgentRecord {
            agent_id: id.to_owned(),
        })
        .expect("serializable");
        Self::log(
            write_atomic(&self.root.join("agent.json"), &bytes),
            "agent id",
        );
    }

    /// Forgets the agent id (the master refused it).
    pub fn clear_agent_id(&self) {
        let _ = std::fs::remove_file(self.root.join("agent.json"));
    }

    /// Records a framework.
    pub fn save_framework(&self, info: &v1::FrameworkInfo) {
        let Some(id) = info.id.as_ref() else { return };
        let bytes = serde_json::to_vec(info).expect("serializable");
        Self::log(
            write_atomic(
                &self
                    .root
                    .join("frameworks")
                    .join(format!("{}.json", id.value)),
                &bytes,
            ),
            "framework",
        );
    }

    fn executor_path(&self, fid: &str, eid: &str) -> PathBuf {
        self.root
            .join("executors")
            .join(fid)
            .join(format!("{eid}.json"))
    }

    /// Records an executor and its tasks.
    pub fn save_executor(&self, rec: &ExecutorRecord) {
        let bytes = serde_json::to_vec(rec).expect("serializable");
        Self::log(
            write_atomic(
                &self.executor_path(&rec.framework_id, &rec.executor_id),
                &bytes,
            ),
            "executor",
        );
    }

    /// Forgets an executor.
    pub fn remove_executor(&self, fid: &str, eid: &str) {
        let _ = std::fs::remove_file(self.executor_path(fid, eid));
    }

    fn updates_path(&self, fid: &str, tid: &str) -> PathBuf {
        self.root
            .join("updates")
            .join(fid)
            .join(format!("{tid}.json"))
    }

    /// Records the pending updates of a task (removes the record when empty).
    pub fn save_updates(&self, fid: &str, tid: &str, pending: &[v1::TaskStatus]) {
        let path = self.updates_path(fid, tid);
        if pending.is_empty() {
            let _ = std::fs::remove_file(path);
            return;
        }
        let bytes = serde_json::to_vec(pending).expect("serializable");
        Self::log(write_atomic(&path, &bytes), "status updates");
    }

    /// Forgets everything about a framework's updates.
    pub fn remove_framework_updates(&self, fid: &str) {
        let _ = std::fs::remove_dir_all(self.root.join("updates").join(fid));
    }

    /// Reads everything back.
    pub fn load(&self) -> Recovered {
        let mut r = Recovered {
            agent_id: read_json::<AgentRecord>(&self.root.join("agent.json")).map(|a| a.agent_id),
            ..Default::default()
        };
        for f in json_files(&self.root.join("frameworks")) {
            if let Some(info) = read_json::<v1::FrameworkInfo>(&f) {
                r.frameworks.push(info);
            }
        }
        for dir in subdirs(&self.root.join("executors")) {
            for f in json_files(&dir) {
                if let Some(rec) = read_json::<ExecutorRecord>(&f) {
                    r.executors.push(rec);
                }
            }
        }
        for dir in subdirs(&self.root.join("updates")) {
            let fid = dir
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_owned();
            for f in json_files(&dir) {
                let tid = f
                    .file_stem()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default()
                    .to_owned();
                if let Some(list) = read_json::<Vec<v1::TaskStatus>>(&f) {
                    r.updates.push((fid.clone(), tid, list));
                }
            }
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let dir = std::env::temp_dir().join(format!("strata-ckpt-{}", std::process::id()));
        let cp = Checkpoint::new(&dir);
        cp.save_agent_id("A-S1");
        cp.save_framework(&v1::FrameworkInfo {
            id: Some(v1::framework_id("F")),
            name: "f".into(),
            ..Default::default()
        });
        cp.save_executor(&ExecutorRecord {
            framework_id: "F".into(),
            executor_id: "E".into(),
            info: v1::ExecutorInfo::default(),
            command_executor: true,
            docker: false,
            container_id: "c1".into(),
            directory: dir.join("sandbox"),
            pid: Some(42),
            limits: "cpus:1".into(),
            tasks: vec![TaskRecord {
                info: v1::TaskInfo {
                    name: "t".into(),
                    ..Default::default()
                },
                state: "TASK_RUNNING".into(),
            }],
        });
        let st = v1::TaskStatus {
            task_id: Some(v1::task_id("t")),
            uuid: Some(vec![1; 16]),
            ..Default::default()
        };
        cp.save_updates("F", "t", &[st.clone()]);
        let r = cp.load();
        assert_eq!(r.agent_id.as_deref(), Some("A-S1"));
        assert_eq!(r.frameworks.len(), 1);
        assert_eq!(r.executors[0].pid, Some(42));
        assert_eq!(r.executors[0].tasks[0].state, "TASK_RUNNING");
        assert_eq!(
            r.updates,
            vec![("F".to_string(), "t".to_string(), vec![st])]
        );
        cp.save_updates("F", "t", &[]);
        assert!(cp.load().updates.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

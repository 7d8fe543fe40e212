//! The agent's checkpoint: what it runs, written under `work_dir/meta` so
//! that a restarted agent (same work dir) finds its executors, their tasks and
//! the status updates not yet acknowledged.
//!
//! Everything goes into one append-only journal, `meta/journal`: each line is
//! a keyed record, `<checksum> ["<key>", <json or null>]`, and the last record
//! of a key wins (`null` forgets the key). Keys:
//! ```text
//! agent                      {"agent_id": ...}
//! framework/<fw>             FrameworkInfo
//! executor/<fw>/<executor>   ExecutorRecord (info, container, tasks)
//! updates/<fw>/<task>        pending status updates, oldest first
//! ```
//! A record is one `write(2)` to a file opened with `O_APPEND`, so a `kill -9`
//! of the agent leaves whole records; a line that is torn anyway (the machine
//! died mid-write) fails its checksum, and the journal is cut there when it is
//! next opened. Records are not fsynced: they survive the agent's death, not
//! the machine's, as before.
//!
//! Why a journal and not a file per record: a task's life rewrote about a
//! dozen small files (write a temporary, rename it over the old one), and on
//! ext4 each of those allocates and frees an inode. In the launch benchmark
//! that file-system work was a third of all CPU time. Appending to one open
//! file costs a single system call. When the journal is mostly dead records
//! (over 1 MiB and four times its live size) it is rewritten with only the
//! live ones, atomically (temporary file, then rename).
//!
//! A work dir written by an older agent (one JSON file per record under
//! `meta/frameworks`, `meta/executors`, `meta/updates`) is read once and moved
//! into the journal.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

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

/// The checkpoint of one work dir. Clones share the open journal.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    root: PathBuf,
    journal: Arc<Mutex<Journal>>,
}

#[derive(Serialize, Deserialize)]
struct AgentRecord {
    agent_id: String,
}

/// Rewrite the journal once it is larger than this and mostly dead records.
const COMPACT_MIN_BYTES: u64 = 1 << 20;

/// The open journal and what is live in it.
#[derive(Debug, Default)]
struct Journal {
    file: Option<File>,
    /// Bytes in the file.
    len: u64,
    /// Live keys and the length of their latest record.
    live: HashMap<String, u64>,
    /// Sum of `live`'s lengths.
    live_bytes: u64,
    /// A checksum of each framework's last record, to skip unchanged rewrites.
    frameworks: HashMap<String, u32>,
}

/// FNV-1a, 32 bits: enough to tell a torn line from a whole one.
fn checksum(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in bytes {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// One journal line for `key` (`value` None: the key is forgotten).
fn encode(key: &str, value: Option<&[u8]>) -> Vec<u8> {
    let key_json = serde_json::to_vec(key).expect("a string serializes");
    let value = value.unwrap_or(b"null");
    let mut body = Vec::with_capacity(key_json.len() + value.len() + 3);
    body.push(b'[');
    body.extend_from_slice(&key_json);
    body.push(b',');
    body.extend_from_slice(value);
    body.push(b']');
    let mut line = format!("{:08x} ", checksum(&body)).into_bytes();
    line.extend_from_slice(&body);
    line.push(b'\n');
    line
}

/// Reads the journal: the latest value of every live key, and the length of
/// the valid prefix (everything after a torn or corrupt line is dropped).
fn replay(bytes: &[u8]) -> (BTreeMap<String, Vec<u8>>, u64) {
    let mut live = BTreeMap::new();
    let mut valid = 0usize;
    while valid < bytes.len() {
        let Some(end) = bytes[valid..].iter().position(|b| *b == b'\n') else {
            break;
        };
        let line = &bytes[valid..valid + end];
        let Some(record) = decode(line) else { break };
        match record {
            (key, Some(value)) => {
                live.insert(key, value);
            }
            (key, None) => {
                live.remove(&key);
            }
        }
        valid += end + 1;
    }
    (live, valid as u64)
}

fn decode(line: &[u8]) -> Option<(String, Option<Vec<u8>>)> {
    if line.len() < 10 || line[8] != b' ' {
        return None;
    }
    let sum = u32::from_str_radix(std::str::from_utf8(&line[..8]).ok()?, 16).ok()?;
    let body = &line[9..];
    if checksum(body) != sum {
        return None;
    }
    let (key, _): (String, serde::de::IgnoredAny) = serde_json::from_slice(body).ok()?;
    // `encode` wrote `[<key>,<value>]` with this same serializer, so the
    // value is what follows the key and its comma.
    let key_len = serde_json::to_vec(&key).ok()?.len();
    let value = body.get(key_len + 2..body.len() - 1)?;
    let value = (value != b"null").then(|| value.to_vec());
    Some((key, value))
}

fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

impl Checkpoint {
    /// The checkpoint under `work_dir/meta`.
    pub fn new(work_dir: &Path) -> Self {
        Self {
            root: work_dir.join("meta"),
            journal: Arc::default(),
        }
    }

    fn journal_path(&self) -> PathBuf {
        self.root.join("journal")
    }

    /// Opens the journal on first use: replays it to learn the live keys and
    /// cuts a torn tail. Returns the live records when it did the replay.
    fn open(&self, j: &mut Journal) -> std::io::Result<Option<BTreeMap<String, Vec<u8>>>> {
        if j.file.is_some() {
            return Ok(None);
        }
        std::fs::create_dir_all(&self.root)?;
        let path = self.journal_path();
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        let (live, valid) = replay(&bytes);
        if valid < bytes.len() as u64 {
            warn!(
                path = %path.display(),
                dropped_bytes = bytes.len() as u64 - valid,
                "the checkpoint journal ends in a torn record; it is cut there"
            );
            let f = OpenOptions::new().write(true).open(&path)?;
            f.set_len(valid)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        j.len = valid;
        j.live = live
            .iter()
            .map(|(k, v)| (k.clone(), (k.len() + v.len() + 14) as u64))
            .collect();
        j.live_bytes = j.live.values().sum();
        j.file = Some(file);
        Ok(Some(live))
    }

    /// Appends one record (`value` None forgets `key`).
    fn put(&self, key: &str, value: Option<&[u8]>) {
        let mut j = self.journal.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = self.put_locked(&mut j, key, value) {
            warn!(error = %e, key, "checkpoint write failed");
            // Reopen (and replay) on the next write.
            j.file = None;
        }
    }

    fn put_locked(&self, j: &mut Journal, key: &str, value: Option<&[u8]>) -> std::io::Result<()> {
        self.open(j)?;
        if value.is_none() && !j.live.contains_key(key) {
            return Ok(());
        }
        let line = encode(key, value);
        j.file.as_mut().expect("opened above").write_all(&line)?;
        let n = line.len() as u64;
        j.len += n;
        let old = match value {
            Some(_) => j.live.insert(key.to_owned(), n),
            None => j.live.remove(key),
        };
        j.live_bytes = j.live_bytes - old.unwrap_or(0) + if value.is_some() { n } else { 0 };
        if j.len > COMPACT_MIN_BYTES && j.len > 4 * j.live_bytes {
            self.compact(j)?;
        }
        Ok(())
    }

    /// Rewrites the journal with only its live records.
    fn compact(&self, j: &mut Journal) -> std::io::Result<()> {
        let path = self.journal_path();
        let (live, _) = replay(&std::fs::read(&path)?);
        let mut out = Vec::with_capacity(j.live_bytes as usize);
        for (k, v) in &live {
            out.extend_from_slice(&encode(k, Some(v)));
        }
        write_atomic(&path, &out)?;
        j.file = Some(OpenOptions::new().append(true).open(&path)?);
        j.len = out.len() as u64;
        j.live_bytes = j.len;
        Ok(())
    }

    /// Records the agent id.
    pub fn save_agent_id(&self, id: &str) {
        let bytes = serde_json::to_vec(&AgentRecord {
            agent_id: id.to_owned(),
        })
        .expect("serializable");
        self.put("agent", Some(&bytes));
    }

    /// Forgets the agent id (the master refused it).
    pub fn clear_agent_id(&self) {
        self.put("agent", None);
    }

    /// Records a framework (nothing is written if it has not changed).
    pub fn save_framework(&self, info: &v1::FrameworkInfo) {
        let Some(id) = info.id.as_ref() else { return };
        let bytes = serde_json::to_vec(info).expect("serializable");
        let sum = checksum(&bytes);
        {
            let mut j = self.journal.lock().unwrap_or_else(|e| e.into_inner());
            if j.frameworks.get(&id.value) == Some(&sum) {
                return;
            }
            j.frameworks.insert(id.value.clone(), sum);
        }
        self.put(&format!("framework/{}", id.value), Some(&bytes));
    }

    /// Records an executor and its tasks.
    pub fn save_executor(&self, rec: &ExecutorRecord) {
        let bytes = serde_json::to_vec(rec).expect("serializable");
        self.put(
            &format!("executor/{}/{}", rec.framework_id, rec.executor_id),
            Some(&bytes),
        );
    }

    /// Forgets an executor.
    pub fn remove_executor(&self, fid: &str, eid: &str) {
        self.put(&format!("executor/{fid}/{eid}"), None);
    }

    /// Records the pending updates of a task (forgets them when empty).
    pub fn save_updates(&self, fid: &str, tid: &str, pending: &[v1::TaskStatus]) {
        let key = format!("updates/{fid}/{tid}");
        if pending.is_empty() {
            self.put(&key, None);
            return;
        }
        let bytes = serde_json::to_vec(pending).expect("serializable");
        self.put(&key, Some(&bytes));
    }

    /// Forgets everything about a framework's updates.
    pub fn remove_framework_updates(&self, fid: &str) {
        let prefix = format!("updates/{fid}/");
        let keys: Vec<String> = {
            let mut j = self.journal.lock().unwrap_or_else(|e| e.into_inner());
            if let Err(e) = self.open(&mut j) {
                warn!(error = %e, "checkpoint journal unreadable");
                return;
            }
            j.live
                .keys()
                .filter(|k| k.starts_with(&prefix))
                .cloned()
                .collect()
        };
        for k in keys {
            self.put(&k, None);
        }
    }

    /// Reads everything back (and moves an older agent's files into the journal).
    pub fn load(&self) -> Recovered {
        let live = {
            let mut j = self.journal.lock().unwrap_or_else(|e| e.into_inner());
            j.file = None;
            match self.open(&mut j) {
                Ok(live) => live.unwrap_or_default(),
                Err(e) => {
                    warn!(error = %e, "checkpoint journal unreadable; starting without it");
                    BTreeMap::new()
                }
            }
        };
        let mut r = Recovered::default();
        for (key, value) in &live {
            let parsed = if key == "agent" {
                serde_json::from_slice::<AgentRecord>(value).map(|a| r.agent_id = Some(a.agent_id))
            } else if key.starts_with("framework/") {
                serde_json::from_slice(value).map(|f| r.frameworks.push(f))
            } else if key.starts_with("executor/") {
                serde_json::from_slice(value).map(|e| r.executors.push(e))
            } else if let Some(rest) = key.strip_prefix("updates/") {
                let (fid, tid) = rest.split_once('/').unwrap_or((rest, ""));
                serde_json::from_slice(value)
                    .map(|list| r.updates.push((fid.to_owned(), tid.to_owned(), list)))
            } else {
                warn!(key, "unknown checkpoint record ignored");
                Ok(())
            };
            if let Err(e) = parsed {
                warn!(key, error = %e, "unreadable checkpoint record ignored");
            }
        }
        self.migrate_legacy(&mut r);
        r
    }

    /// Reads the one-file-per-record layout of older agents into `r`, writes
    /// it into the journal and removes the old files.
    fn migrate_legacy(&self, r: &mut Recovered) {
        let legacy = legacy::load(&self.root);
        if legacy.is_empty() {
            return;
        }
        if let Some(id) = &legacy.agent_id {
            self.save_agent_id(id);
            r.agent_id = Some(id.clone());
        }
        for f in legacy.frameworks {
            self.save_framework(&f);
            r.frameworks.push(f);
        }
        for e in legacy.executors {
            self.save_executor(&e);
            r.executors.push(e);
        }
        for (fid, tid, list) in legacy.updates {
            self.save_updates(&fid, &tid, &list);
            r.updates.push((fid, tid, list));
        }
        legacy::remove(&self.root);
    }
}

/// The layout of agents before the journal: one JSON file per record.
mod legacy {
    use std::path::{Path, PathBuf};

    use serde::de::DeserializeOwned;
    use tracing::warn;

    use super::{AgentRecord, Recovered};

    impl Recovered {
        pub(super) fn is_empty(&self) -> bool {
            self.agent_id.is_none()
                && self.frameworks.is_empty()
                && self.executors.is_empty()
                && self.updates.is_empty()
        }
    }

    fn read_json<T: DeserializeOwned>(path: &Path) -> Option<T> {
        let bytes = std::fs::read(path).ok()?;
        match serde_json::from_slice(&bytes) {
            Ok(v) => Some(v),
            Err(e) => {
                warn!(path = %path.display(), error = %e, "unreadable checkpoint record ignored");
                None
            }
        }
    }

    fn entries(dir: &Path, want_dirs: bool) -> Vec<PathBuf> {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut out: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                if want_dirs {
                    p.is_dir()
                } else {
                    p.extension().is_some_and(|x| x == "json")
                }
            })
            .collect();
        out.sort();
        out
    }

    pub(super) fn load(root: &Path) -> Recovered {
        let mut r = Recovered {
            agent_id: read_json::<AgentRecord>(&root.join("agent.json")).map(|a| a.agent_id),
            ..Default::default()
        };
        for f in entries(&root.join("frameworks"), false) {
            r.frameworks.extend(read_json(&f));
        }
        for dir in entries(&root.join("executors"), true) {
            for f in entries(&dir, false) {
                r.executors.extend(read_json(&f));
            }
        }
        for dir in entries(&root.join("updates"), true) {
            let fid = dir
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default()
                .to_owned();
            for f in entries(&dir, false) {
                let tid = f
                    .file_stem()
                    .and_then(|n| n.to_str())
                    .unwrap_or_default()
                    .to_owned();
                if let Some(list) = read_json(&f) {
                    r.updates.push((fid.clone(), tid, list));
                }
            }
        }
        r
    }

    pub(super) fn remove(root: &Path) {
        let _ = std::fs::remove_file(root.join("agent.json"));
        for d in ["frameworks", "executors", "updates"] {
            let _ = std::fs::remove_dir_all(root.join(d));
        }
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

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("strata-ckpt-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn status(task: &str, n: u8) -> v1::TaskStatus {
        v1::TaskStatus {
            task_id: Some(v1::task_id(task)),
            uuid: Some(vec![n; 16]),
            ..Default::default()
        }
    }

    #[test]
    fn a_torn_tail_is_cut_and_writing_goes_on_after_it() {
        let dir = temp_dir("torn");
        let cp = Checkpoint::new(&dir);
        cp.save_agent_id("A-1");
        cp.save_updates("F", "t1", &[status("t1", 1)]);
        let path = dir.join("meta/journal");
        let whole = std::fs::read(&path).unwrap();
        // A record cut short, as if the machine died mid-write, then a record
        // whose checksum does not match.
        let mut torn = whole.clone();
        let second = encode("updates/F/t2", Some(br#"[{"uuid":"AAAA"}]"#));
        torn.extend_from_slice(&second[..second.len() / 2]);
        std::fs::write(&path, &torn).unwrap();
        let cp = Checkpoint::new(&dir);
        let r = cp.load();
        assert_eq!(r.agent_id.as_deref(), Some("A-1"));
        assert_eq!(r.updates.len(), 1);
        assert_eq!(
            std::fs::read(&path).unwrap(),
            whole,
            "cut at the last whole record"
        );
        cp.save_updates("F", "t3", &[status("t3", 3)]);
        let r = Checkpoint::new(&dir).load();
        let tasks: Vec<&str> = r.updates.iter().map(|(_, t, _)| t.as_str()).collect();
        assert_eq!(tasks, ["t1", "t3"]);

        let mut corrupt = std::fs::read(&path).unwrap();
        let n = corrupt.len();
        corrupt[n - 5] ^= 0x20;
        std::fs::write(&path, &corrupt).unwrap();
        let r = Checkpoint::new(&dir).load();
        assert_eq!(r.updates.len(), 1, "the corrupt last record is dropped");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_journal_of_dead_records_is_compacted() {
        let dir = temp_dir("compact");
        let cp = Checkpoint::new(&dir);
        cp.save_agent_id("A-2");
        for i in 0..20_000u32 {
            let t = format!("task-{i}");
            cp.save_updates("F", &t, &[status(&t, 1)]);
            cp.save_updates("F", &t, &[]);
        }
        cp.save_updates("F", "kept", &[status("kept", 7)]);
        let len = std::fs::metadata(dir.join("meta/journal")).unwrap().len();
        assert!(len < COMPACT_MIN_BYTES, "journal is {len} bytes");
        let r = Checkpoint::new(&dir).load();
        assert_eq!(r.agent_id.as_deref(), Some("A-2"));
        assert_eq!(
            r.updates,
            vec![("F".into(), "kept".into(), vec![status("kept", 7)])]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_unchanged_framework_is_not_written_again() {
        let dir = temp_dir("fw");
        let cp = Checkpoint::new(&dir);
        let fw = v1::FrameworkInfo {
            id: Some(v1::framework_id("F")),
            name: "f".into(),
            ..Default::default()
        };
        cp.save_framework(&fw);
        let len = std::fs::metadata(dir.join("meta/journal")).unwrap().len();
        cp.save_framework(&fw);
        assert_eq!(
            std::fs::metadata(dir.join("meta/journal")).unwrap().len(),
            len
        );
        cp.save_framework(&v1::FrameworkInfo {
            name: "g".into(),
            ..fw
        });
        let r = Checkpoint::new(&dir).load();
        assert_eq!(r.frameworks.len(), 1);
        assert_eq!(r.frameworks[0].name, "g");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_older_agents_files_move_into_the_journal() {
        let dir = temp_dir("legacy");
        let meta = dir.join("meta");
        std::fs::create_dir_all(meta.join("updates/F")).unwrap();
        std::fs::create_dir_all(meta.join("frameworks")).unwrap();
        std::fs::write(meta.join("agent.json"), br#"{"agent_id":"A-OLD"}"#).unwrap();
        std::fs::write(
            meta.join("frameworks/F.json"),
            serde_json::to_vec(&v1::FrameworkInfo {
                id: Some(v1::framework_id("F")),
                name: "old".into(),
                ..Default::default()
            })
            .unwrap(),
        )
        .unwrap();
        std::fs::write(
            meta.join("updates/F/t.json"),
            serde_json::to_vec(&[status("t", 9)]).unwrap(),
        )
        .unwrap();
        let r = Checkpoint::new(&dir).load();
        assert_eq!(r.agent_id.as_deref(), Some("A-OLD"));
        assert_eq!(r.frameworks[0].name, "old");
        assert_eq!(r.updates.len(), 1);
        assert!(!meta.join("agent.json").exists() && !meta.join("updates").exists());
        let again = Checkpoint::new(&dir).load();
        assert_eq!(again.agent_id.as_deref(), Some("A-OLD"));
        assert_eq!(again.updates.len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

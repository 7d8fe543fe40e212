//! Persistent volumes on the agent.
//!
//! The master sends the agent's whole list of dynamic reservations and
//! persistent volumes after every change and every (re-)registration
//! ([`internal::CheckpointResources`](strata_proto::internal::CheckpointResources)).
//! The agent keeps a copy in `work_dir/meta/resources/checkpointed.json`,
//! creates a directory for each new volume at
//! `work_dir/volumes/roles/<role>/<persistence id>` (Mesos's layout; a `/`
//! in a hierarchical role becomes a space) and removes the directories of
//! volumes no longer listed, unless a live task still uses them.
//!
//! A task whose resources include a volume finds it in its sandbox at the
//! volume's `container_path`, as a **symlink** to the volume's directory.
//! Strata's containerizer runs tasks in the agent's own mount namespace, so
//! a bind mount there would be visible to the whole host, would survive a
//! killed agent, and would let a recursive removal of an old sandbox reach
//! into the volume; a symlink has none of these problems, and removing a
//! sandbox never follows it. What a task writes there stays in the volume
//! after the task ends, for the next task that is launched with it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use strata_api::Resources;
use strata_proto::convert::{detailed_from_wire, kind_from_wire, ResourceConversionError};
use strata_proto::v1;
use tracing::{info, warn};

/// The amounts of task or executor resources, reserved or not: container
/// limits do not depend on whom resources are reserved for.
pub fn amounts_from_wire(list: &[v1::Resource]) -> Result<Resources, ResourceConversionError> {
    detailed_from_wire(list).map(|d| d.total())
}

/// The resources of `tasks` (and of their executors) that are persistent
/// volumes.
pub fn volume_resources(tasks: &[v1::TaskInfo]) -> Vec<v1::Resource> {
    tasks
        .iter()
        .flat_map(|t| {
            t.resources
                .iter()
                .chain(t.executor.iter().flat_map(|e| e.resources.iter()))
        })
        .filter(|r| r.disk.as_ref().is_some_and(|d| d.persistence.is_some()))
        .cloned()
        .collect()
}

/// How volumes appear in sandboxes (see the module documentation).
pub const ATTACH_MODE: &str = "symlink";

/// The agent's persistent volumes and its checkpointed resources.
#[derive(Debug)]
pub struct Volumes {
    work_dir: PathBuf,
    /// As the master last sent them.
    resources: Vec<v1::Resource>,
}

/// A volume named by a task's or the master's resources.
#[derive(Debug, Clone, PartialEq, Eq)]
struct VolumeRef {
    id: String,
    role: String,
    container_path: Option<String>,
}

fn volumes_in(resources: &[v1::Resource]) -> Vec<VolumeRef> {
    resources
        .iter()
        .filter_map(|r| {
            let disk = r.disk.as_ref()?;
            let id = disk.persistence.as_ref()?.id.clone();
            let role = kind_from_wire(r).ok()?.role().to_owned();
            Some(VolumeRef {
                id,
                role,
                container_path: disk.volume.as_ref().map(|v| v.container_path.clone()),
            })
        })
        .collect()
}

impl Volumes {
    /// Reads the checkpoint under `work_dir` (nothing when there is none).
    pub fn open(work_dir: &Path) -> Self {
        let me = Self {
            work_dir: work_dir.to_path_buf(),
            resources: Vec::new(),
        };
        let resources = match std::fs::read(me.file()) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                warn!(error = %e, "unreadable checkpointed resources ignored");
                Vec::new()
            }),
            Err(_) => Vec::new(),
        };
        let me = Self { resources, ..me };
        info!(
            mode = ATTACH_MODE,
            volumes = volumes_in(&me.resources).len(),
            "persistent volumes are linked into sandboxes with symlinks (tasks share the agent's mount namespace)"
        );
        me
    }

    fn file(&self) -> PathBuf {
        self.work_dir
            .join("meta")
            .join("resources")
            .join("checkpointed.json")
    }

    /// Where the volume `id` of `role` lives.
    pub fn path(&self, role: &str, id: &str) -> PathBuf {
        self.work_dir
            .join("volumes")
            .join("roles")
            .join(role.replace('/', " "))
            .join(id)
    }

    /// The checkpointed resources as the master last sent them.
    pub fn resources(&self) -> &[v1::Resource] {
        &self.resources
    }

    /// Persistence ids of the volumes that `tasks` (live ones) use.
    pub fn in_use<'a>(tasks: impl IntoIterator<Item = &'a v1::TaskInfo>) -> BTreeSet<String> {
        tasks
            .into_iter()
            .flat_map(|t| {
                let exec = t.executor.iter().flat_map(|e| e.resources.iter());
                volumes_in(&t.resources.iter().chain(exec).cloned().collect::<Vec<_>>())
            })
            .map(|v| v.id)
            .collect()
    }

    /// Adopts the master's list: creates the directories of new volumes,
    /// removes those of volumes no longer listed (unless in `in_use`: those
    /// stay, with an error in the log), and checkpoints the list.
    pub fn checkpoint(&mut self, resources: Vec<v1::Resource>, in_use: &BTreeSet<String>) {
        let old = volumes_in(&self.resources);
        let new = volumes_in(&resources);
        for v in &new {
            let dir = self.path(&v.role, &v.id);
            if !dir.is_dir() {
                match std::fs::create_dir_all(&dir) {
                    Ok(()) => {
                        info!(volume = %v.id, role = %v.role, dir = %dir.display(), "created persistent volume")
                    }
                    Err(e) => {
                        warn!(volume = %v.id, dir = %dir.display(), error = %e, "cannot create persistent volume")
                    }
                }
            }
        }
        let kept: BTreeSet<(&str, &str)> = new
            .iter()
            .map(|v| (v.role.as_str(), v.id.as_str()))
            .collect();
        for v in old
            .iter()
            .filter(|v| !kept.contains(&(v.role.as_str(), v.id.as_str())))
        {
            let dir = self.path(&v.role, &v.id);
            if in_use.contains(&v.id) {
                tracing::error!(volume = %v.id, dir = %dir.display(),
                    "the master destroyed a persistent volume that a task still uses; its directory is kept");
                continue;
            }
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => {
                    info!(volume = %v.id, role = %v.role, "removed destroyed persistent volume")
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    warn!(volume = %v.id, dir = %dir.display(), error = %e, "cannot remove destroyed persistent volume")
                }
            }
        }
        self.resources = resources;
        self.save();
    }

    fn save(&self) {
        let file = self.file();
        let tmp = file.with_extension("json.tmp");
        let write = || -> std::io::Result<()> {
            if let Some(dir) = file.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&tmp, serde_json::to_vec(&self.resources)?)?;
            std::fs::rename(&tmp, &file)
        };
        if let Err(e) = write() {
            warn!(file = %file.display(), error = %e, "cannot checkpoint resources");
        }
    }

    /// Checks that every volume `resources` name is one this agent has.
    pub fn check(&self, resources: &[v1::Resource]) -> Result<(), String> {
        let known = volumes_in(&self.resources);
        for v in volumes_in(resources) {
            if !known.iter().any(|k| k.id == v.id && k.role == v.role) {
                return Err(format!(
                    "persistent volume {} (role {}) does not exist on this agent",
                    v.id, v.role
                ));
            }
            if v.container_path.is_none() {
                return Err(format!(
                    "persistent volume {} has no 'disk.volume.container_path'",
                    v.id
                ));
            }
        }
        Ok(())
    }

    /// Makes the volumes that `resources` name appear in `sandbox` at their
    /// container paths. Returns the links made.
    pub fn attach(
        &self,
        sandbox: &Path,
        resources: &[v1::Resource],
    ) -> Result<Vec<PathBuf>, String> {
        let mut made = Vec::new();
        let mut seen = BTreeMap::new();
        for v in volumes_in(resources) {
            let Some(rel) = v.container_path.as_deref() else {
                continue;
            };
            if rel.starts_with('/') || rel.split('/').any(|p| p == "..") {
                return Err(format!(
                    "volume container_path {rel:?} must be relative to the sandbox, without '..'"
                ));
            }
            if seen.insert(rel.to_owned(), v.id.clone()).is_some() {
                return Err(format!("two volumes are mounted at {rel:?}"));
            }
            let target = self.path(&v.role, &v.id);
            let link = sandbox.join(rel);
            if let Some(parent) = link.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
            }
            match std::fs::read_link(&link) {
                Ok(existing) if existing == target => {}
                Ok(_) | Err(_) if link.symlink_metadata().is_ok() => {
                    return Err(format!(
                        "cannot link volume {} at {}: something else is there",
                        v.id,
                        link.display()
                    ))
                }
                _ => std::os::unix::fs::symlink(&target, &link).map_err(|e| {
                    format!("cannot link volume {} at {}: {e}", v.id, link.display())
                })?,
            }
            info!(volume = %v.id, mode = ATTACH_MODE, at = %link.display(), "persistent volume attached");
            made.push(link);
        }
        Ok(made)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn volume(id: &str, path: &str) -> v1::Resource {
        v1::Resource {
            name: "disk".into(),
            r#type: v1::ValueType::Scalar as i32,
            scalar: Some(v1::ValueScalar { value: 64.0 }),
            reservations: vec![v1::ReservationInfo {
                r#type: Some(v1::ReservationType::Dynamic as i32),
                role: Some("eng/db".into()),
                ..Default::default()
            }],
            disk: Some(v1::DiskInfo {
                persistence: Some(v1::DiskInfoPersistence {
                    id: id.into(),
                    principal: None,
                }),
                volume: Some(v1::Volume {
                    mode: v1::VolumeMode::Rw as i32,
                    container_path: path.into(),
                    host_path: None,
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn volumes_outlive_sandboxes_and_go_when_destroyed() {
        let dir = std::env::temp_dir().join(format!("strata-volumes-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut vols = Volumes::open(&dir);
        vols.checkpoint(vec![volume("db", "data")], &BTreeSet::new());
        let home = vols.path("eng/db", "db");
        assert!(
            home.ends_with("volumes/roles/eng db/db"),
            "{}",
            home.display()
        );
        assert!(home.is_dir());

        // A task writes through its sandbox link; the next task sees it.
        let first = dir.join("sandbox-1");
        vols.check(&[volume("db", "data")]).unwrap();
        vols.attach(&first, &[volume("db", "data")]).unwrap();
        std::fs::write(first.join("data").join("f"), "kept").unwrap();
        std::fs::remove_dir_all(&first).unwrap();
        let second = dir.join("sandbox-2");
        vols.attach(&second, &[volume("db", "nested/here")])
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(second.join("nested/here/f")).unwrap(),
            "kept"
        );

        // The checkpoint survives a restart.
        let mut vols = Volumes::open(&dir);
        assert_eq!(vols.resources().len(), 1);
        assert!(vols.check(&[volume("other", "x")]).is_err());
        assert!(vols.attach(&second, &[volume("db", "../escape")]).is_err());

        // Destroyed while in use: kept; destroyed when free: removed.
        let busy: BTreeSet<String> = ["db".to_string()].into();
        vols.checkpoint(vec![], &busy);
        assert!(home.is_dir());
        vols.resources = vec![volume("db", "data")];
        vols.checkpoint(vec![], &BTreeSet::new());
        assert!(!home.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}

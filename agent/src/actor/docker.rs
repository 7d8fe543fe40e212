//! Tasks whose ContainerInfo is DOCKER: the agent runs them itself through
//! the Docker containerizer (as Mesos's docker executor would) and reports
//! their status updates, STARTING, RUNNING and the terminal state.

use std::time::Duration;

use crate::volumes::amounts_from_wire as resources_from_wire;
use strata_agent_containerizer::{
    DockerContainer, DockerLaunchSpec, DockerNetwork, Limits, PortMapping, Termination, VolumeMount,
};
use strata_api::{FrameworkId, TaskId, TaskState};
use strata_proto::v1;
use tracing::{info, warn};

use super::{Agent, AgentEvent};

/// A Docker task the agent runs.
#[derive(Debug)]
pub struct DockerTask {
    /// The TaskInfo.
    pub info: v1::TaskInfo,
    /// Its latest state.
    pub state: TaskState,
    /// Container id (also the sandbox's run directory name).
    pub container_id: String,
    /// The sandbox.
    pub directory: std::path::PathBuf,
    /// The container, once started.
    pub container: Option<DockerContainer>,
    /// A kill was asked for.
    pub killing: bool,
}

/// Label names put on every container (read back at recovery).
pub const TASK_LABEL: &str = "strata.task_id";
/// Label names put on every container.
pub const FRAMEWORK_LABEL: &str = "strata.framework_id";

fn grace_of(task: &v1::TaskInfo) -> Duration {
    task.kill_policy
        .as_ref()
        .and_then(|k| k.grace_period.as_ref())
        .map(|d| Duration::from_nanos(d.nanoseconds.max(0) as u64))
        .unwrap_or(Duration::from_secs(3))
}

impl Agent {
    /// Starts a Docker task, or fails it with the reason Docker is unavailable.
    pub(super) fn run_docker_task(&mut self, fid: FrameworkId, task: v1::TaskInfo) {
        let tid = TaskId(
            task.task_id
                .as_ref()
                .map(|t| t.value.clone())
                .unwrap_or_default(),
        );
        let Some(docker) = self.docker.clone() else {
            let why = format!(
                "this agent has no Docker containerizer ({}); the task was not run",
                self.docker_status
            );
            self.agent_update(
                &fid,
                &tid,
                None,
                TaskState::Failed,
                v1::TaskStatusReason::ReasonContainerLaunchFailed,
                why,
            );
            return;
        };
        let spec = match self.docker_spec(&fid, &task) {
            Ok(s) => s,
            Err(why) => {
                self.agent_update(
                    &fid,
                    &tid,
                    None,
                    TaskState::Failed,
                    v1::TaskStatusReason::ReasonTaskInvalid,
                    why,
                );
                return;
            }
        };
        info!(framework_id = %fid, task_id = %tid, image = %spec.image, "launching docker task");
        let key = (fid.clone(), tid.clone());
        self.docker_tasks.insert(
            key.clone(),
            DockerTask {
                info: task,
                state: TaskState::Starting,
                container_id: spec.container_id.clone(),
                directory: spec.sandbox.clone(),
                container: None,
                killing: false,
            },
        );
        self.save_docker_task(&key);
        self.agent_update(
            &fid,
            &tid,
            None,
            TaskState::Starting,
            v1::TaskStatusReason::ReasonTaskInvalid,
            "pulling the image and starting the container",
        );
        let tx = self.self_tx.clone();
        tokio::spawn(async move {
            let result = docker.launch(spec).await.map_err(|e| e.to_string());
            let watch = result.as_ref().ok().cloned();
            let _ = tx.send(AgentEvent::DockerLaunched {
                framework_id: fid.clone(),
                task_id: tid.clone(),
                result,
            });
            if let Some(c) = watch {
                let termination = docker.wait(&c).await;
                let _ = tx.send(AgentEvent::DockerExited {
                    framework_id: fid,
                    task_id: tid,
                    termination,
                });
            }
        });
    }

    fn docker_spec(
        &self,
        fid: &FrameworkId,
        task: &v1::TaskInfo,
    ) -> Result<DockerLaunchSpec, String> {
        let tid = task
            .task_id
            .as_ref()
            .map(|t| t.value.clone())
            .unwrap_or_default();
        let c = task.container.as_ref().ok_or("the task has no container")?;
        let d = c
            .docker
            .as_ref()
            .ok_or("a DOCKER container needs 'container.docker'")?;
        if d.image.is_empty() {
            return Err("'container.docker.image' must not be empty".into());
        }
        let network = match v1::DockerNetwork::try_from(
            d.network.unwrap_or(v1::DockerNetwork::Host as i32),
        ) {
            Ok(v1::DockerNetwork::Bridge) => DockerNetwork::Bridge,
            Ok(v1::DockerNetwork::None) => DockerNetwork::None,
            Ok(v1::DockerNetwork::Host) | Ok(v1::DockerNetwork::Unknown) => DockerNetwork::Host,
            Ok(v1::DockerNetwork::User) | Err(_) => {
                return Err("docker network USER is not supported".into())
            }
        };
        let res = resources_from_wire(&task.resources).map_err(|e| e.to_string())?;
        let ports = res.range_set("ports");
        let mut port_mappings = Vec::new();
        for m in &d.port_mappings {
            let host = m.host_port;
            if !ports.is_some_and(|p| p.contains_value(host as u64)) {
                return Err(format!("port mapping uses host port {host}, which is not in the task's ports resources"));
            }
            port_mappings.push(PortMapping {
                host_port: host as u16,
                container_port: m.container_port as u16,
                protocol: m.protocol.clone().unwrap_or_else(|| "tcp".into()),
            });
        }
        let cmd = task.command.clone().unwrap_or_default();
        let command = match cmd.value.as_deref().filter(|v| !v.is_empty()) {
            Some(v) if cmd.shell.unwrap_or(true) => {
                Some(vec!["sh".into(), "-c".into(), v.to_owned()])
            }
            Some(v) => Some(
                std::iter::once(v.to_owned())
                    .chain(cmd.arguments.iter().skip(1).cloned())
                    .collect(),
            ),
            None if !cmd.arguments.is_empty() => Some(cmd.arguments.clone()),
            None => None,
        };
        let mut env: Vec<(String, String)> = cmd
            .environment
            .iter()
            .flat_map(|e| e.variables.iter())
            .map(|v| (v.name.clone(), v.value.clone().unwrap_or_default()))
            .collect();
        env.push(("MESOS_TASK_ID".into(), tid.clone()));
        for p in &d.parameters {
            if p.key == "env" || p.key == "e" {
                if let Some((k, v)) = p.value.split_once('=') {
                    env.push((k.to_owned(), v.to_owned()));
                }
            }
        }
        let mut labels: Vec<(String, String)> = d
            .parameters
            .iter()
            .filter(|p| p.key == "label" || p.key == "l")
            .filter_map(|p| {
                p.value
                    .split_once('=')
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
            })
            .collect();
        labels.push((TASK_LABEL.into(), tid.clone()));
        labels.push((FRAMEWORK_LABEL.into(), fid.to_string()));
        labels.push(("strata.executor_id".into(), tid.clone()));
        labels.push((
            strata_agent_containerizer::docker::AGENT_ID_LABEL.into(),
            self.agent_id.clone().unwrap_or_default(),
        ));
        let volumes = c
            .volumes
            .iter()
            .filter_map(|v| {
                Some(VolumeMount {
                    host_path: v.host_path.clone()?.into(),
                    container_path: v.container_path.clone(),
                    read_only: v.mode == v1::VolumeMode::Ro as i32,
                })
            })
            .collect();
        let container_id = uuid::Uuid::new_v4().to_string();
        let directory = self
            .config
            .work_dir
            .join("slaves")
            .join(self.agent_id.clone().unwrap_or_default())
            .join("frameworks")
            .join(fid.as_str())
            .join("executors")
            .join(&tid)
            .join("runs")
            .join(&container_id);
        Ok(DockerLaunchSpec {
            container_id,
            sandbox: directory,
            image: d.image.clone(),
            force_pull: d.force_pull_image.unwrap_or(false),
            command,
            env,
            network,
            port_mappings,
            volumes,
            labels,
            privileged: d.privileged.unwrap_or(false),
            limits: Limits {
                cpus: res.cpus(),
                mem_mb: res.mem(),
            },
        })
    }

    pub(super) fn docker_launched(
        &mut self,
        fid: FrameworkId,
        tid: TaskId,
        result: Result<DockerContainer, String>,
    ) {
        let key = (fid.clone(), tid.clone());
        let Some(t) = self.docker_tasks.get_mut(&key) else {
            return;
        };
        match result {
            Ok(c) => {
                let killing = t.killing;
                let grace = grace_of(&t.info);
                let was_running = t.state == TaskState::Running;
                t.state = TaskState::Running;
                t.container = Some(c.clone());
                self.save_docker_task(&key);
                if !was_running {
                    self.agent_update(
                        &fid,
                        &tid,
                        None,
                        TaskState::Running,
                        v1::TaskStatusReason::ReasonTaskInvalid,
                        "container started",
                    );
                }
                if killing {
                    self.stop_docker(c, grace);
                }
            }
            Err(why) => {
                warn!(framework_id = %fid, task_id = %tid, error = %why, "docker task failed to start");
                self.docker_tasks.remove(&key);
                self.checkpoint.remove_executor(fid.as_str(), tid.as_str());
                self.agent_update(
                    &fid,
                    &tid,
                    None,
                    TaskState::Failed,
                    v1::TaskStatusReason::ReasonContainerLaunchFailed,
                    why,
                );
            }
        }
    }

    pub(super) fn docker_exited(&mut self, fid: FrameworkId, tid: TaskId, term: Termination) {
        let key = (fid.clone(), tid.clone());
        let Some(t) = self.docker_tasks.remove(&key) else {
            return;
        };
        self.checkpoint.remove_executor(fid.as_str(), tid.as_str());
        let (state, reason, msg) = if term.oom_killed {
            (
                TaskState::Failed,
                v1::TaskStatusReason::ReasonContainerLimitationMemory,
                format!("memory limit exceeded: {}", term.message),
            )
        } else if t.killing {
            (
                TaskState::Killed,
                v1::TaskStatusReason::ReasonTaskInvalid,
                format!("container stopped: {}", term.message),
            )
        } else if term.exit_code == Some(0) {
            (
                TaskState::Finished,
                v1::TaskStatusReason::ReasonTaskInvalid,
                "container exited with status 0".to_string(),
            )
        } else {
            (
                TaskState::Failed,
                v1::TaskStatusReason::ReasonCommandExecutorFailed,
                format!("container {}", term.message),
            )
        };
        info!(framework_id = %fid, task_id = %tid, state = %state, "docker task ended");
        self.agent_update(&fid, &tid, None, state, reason, msg);
        if let (Some(c), Some(docker)) = (t.container, self.docker.clone()) {
            tokio::spawn(async move {
                if let Err(e) = docker.destroy(&c).await {
                    warn!(error = %e, "docker container not removed");
                }
            });
        }
    }

    /// Kills a Docker task (grace period from its kill policy). True if it was one.
    pub(super) fn kill_docker_task(
        &mut self,
        fid: &FrameworkId,
        tid: &TaskId,
        policy: Option<&v1::KillPolicy>,
    ) -> bool {
        let Some(t) = self.docker_tasks.get_mut(&(fid.clone(), tid.clone())) else {
            return false;
        };
        t.killing = true;
        let grace = policy
            .and_then(|k| k.grace_period.as_ref())
            .map(|d| Duration::from_nanos(d.nanoseconds.max(0) as u64))
            .unwrap_or_else(|| grace_of(&t.info));
        if let Some(c) = t.container.clone() {
            self.stop_docker(c, grace);
        }
        true
    }

    fn stop_docker(&self, c: DockerContainer, grace: Duration) {
        if let Some(docker) = self.docker.clone() {
            tokio::spawn(async move {
                if let Err(e) = docker.stop(&c, grace).await {
                    warn!(error = %e, "stopping a docker container failed");
                }
            });
        }
    }

    /// Stops every Docker task of a framework.
    pub(super) fn shutdown_docker_framework(&mut self, fid: &FrameworkId) {
        let ids: Vec<TaskId> = self
            .docker_tasks
            .keys()
            .filter(|(f, _)| f == fid)
            .map(|(_, t)| t.clone())
            .collect();
        for tid in ids {
            self.kill_docker_task(fid, &tid, None);
        }
    }

    pub(super) fn save_docker_task(&self, key: &(FrameworkId, TaskId)) {
        let Some(t) = self.docker_tasks.get(key) else {
            return;
        };
        self.checkpoint
            .save_executor(&crate::checkpoint::ExecutorRecord {
                framework_id: key.0.to_string(),
                executor_id: key.1.to_string(),
                info: v1::ExecutorInfo::default(),
                command_executor: false,
                docker: true,
                container_id: t.container_id.clone(),
                directory: t.directory.clone(),
                pid: t.container.as_ref().and_then(|c| c.pid),
                limits: String::new(),
                tasks: vec![crate::checkpoint::TaskRecord {
                    info: t.info.clone(),
                    state: t.state.as_mesos_str().to_owned(),
                }],
            });
    }

    /// Re-attaches to Docker tasks recorded before a restart; those whose
    /// container is gone are reported failed. Containers labelled with this
    /// agent that nobody recorded are removed.
    pub(super) fn recover_docker(&mut self, records: Vec<crate::checkpoint::ExecutorRecord>) {
        let Some(docker) = self.docker.clone() else {
            for rec in records {
                let fid = FrameworkId(rec.framework_id.clone());
                let tid = TaskId(rec.executor_id.clone());
                self.checkpoint.remove_executor(fid.as_str(), tid.as_str());
                self.agent_update(&fid, &tid, None, TaskState::Failed, v1::TaskStatusReason::ReasonExecutorTerminated,
                    "the agent restarted without a Docker containerizer; the container cannot be recovered");
            }
            return;
        };
        let agent_id = self.agent_id.clone().unwrap_or_default();
        let tx = self.self_tx.clone();
        self.recovering = true;
        tokio::spawn(async move {
            let listed = docker.list(&agent_id).await.unwrap_or_default();
            let _ = tx.send(AgentEvent::DockerRecovered { records, listed });
        });
    }

    pub(super) fn docker_recovered(
        &mut self,
        records: Vec<crate::checkpoint::ExecutorRecord>,
        listed: Vec<strata_agent_containerizer::RecoveredContainer>,
    ) {
        let Some(docker) = self.docker.clone() else {
            self.recovered();
            return;
        };
        let mut known = Vec::new();
        for rec in records {
            let fid = FrameworkId(rec.framework_id.clone());
            let tid = TaskId(rec.executor_id.clone());
            let Some(info) = rec.tasks.first().map(|t| t.info.clone()) else {
                continue;
            };
            known.push(rec.container_id.clone());
            let found = listed
                .iter()
                .find(|rc| rc.container_id() == Some(rec.container_id.as_str()))
                .cloned();
            let Some(rc) = found else {
                self.checkpoint.remove_executor(fid.as_str(), tid.as_str());
                self.agent_update(
                    &fid,
                    &tid,
                    None,
                    TaskState::Failed,
                    v1::TaskStatusReason::ReasonExecutorTerminated,
                    "the container was gone when the agent restarted",
                );
                continue;
            };
            let state = rec
                .tasks
                .first()
                .and_then(|t| t.state.parse().ok())
                .unwrap_or(TaskState::Running);
            self.docker_tasks.insert(
                (fid.clone(), tid.clone()),
                DockerTask {
                    info,
                    state,
                    container_id: rec.container_id.clone(),
                    directory: rec.directory.clone(),
                    container: None,
                    killing: false,
                },
            );
            let tx = self.self_tx.clone();
            let docker = docker.clone();
            let dir = rec.directory.clone();
            tokio::spawn(async move {
                match docker.recover(&rc, dir).await {
                    Ok(c) => {
                        let _ = tx.send(AgentEvent::DockerLaunched {
                            framework_id: fid.clone(),
                            task_id: tid.clone(),
                            result: Ok(c.clone()),
                        });
                        let termination = docker.wait(&c).await;
                        let _ = tx.send(AgentEvent::DockerExited {
                            framework_id: fid,
                            task_id: tid,
                            termination,
                        });
                    }
                    Err(e) => {
                        let _ = tx.send(AgentEvent::DockerLaunched {
                            framework_id: fid,
                            task_id: tid,
                            result: Err(e.to_string()),
                        });
                    }
                }
            });
        }
        for rc in listed {
            if !rc
                .container_id()
                .is_some_and(|id| known.iter().any(|k| k == id))
            {
                let docker = docker.clone();
                tokio::spawn(async move {
                    let _ = docker.destroy_orphan(&rc).await;
                });
            }
        }
        self.recovered();
    }
}

//! The internal master<->agent protocol: one tonic bidirectional stream per
//! agent (`AgentLink/Connect`). Messages reuse the Mesos v1 types for task,
//! executor and status payloads so nothing is translated twice.
//!
//! Field numbers here are Strata's own and may change between versions: the
//! master and agent of one cluster always run the same build.

#![allow(missing_docs)]

use crate::v1;

/// A task as the agent reports it on (re-)registration.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct TaskReport {
    #[prost(message, optional, tag = "1")]
    pub framework_id: Option<v1::FrameworkId>,
    #[prost(message, optional, tag = "2")]
    pub task: Option<v1::TaskInfo>,
    /// The latest state the agent knows (a `v1::TaskState` value).
    #[prost(enumeration = "v1::TaskState", tag = "3")]
    pub state: i32,
}

/// First message on every stream. `agent_info.id` is set when re-registering.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Register {
    #[prost(message, optional, tag = "1")]
    pub agent_info: Option<v1::AgentInfo>,
    #[prost(message, repeated, tag = "2")]
    pub tasks: Vec<TaskReport>,
    /// Base URL of the agent's HTTP server, e.g. `http://127.0.0.1:5051`.
    #[prost(string, tag = "3")]
    pub http_endpoint: String,
    /// Free-form isolation description shown in `/state` (e.g. "cgroups v1 (cpu, memory)").
    #[prost(string, tag = "4")]
    pub isolation: String,
    #[prost(string, tag = "5")]
    pub version: String,
    /// Frameworks with tasks on this agent (so a failed-over master can show them).
    #[prost(message, repeated, tag = "6")]
    pub frameworks: Vec<v1::FrameworkInfo>,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Heartbeat {}

/// A status update, carried until the framework acknowledges it.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct StatusUpdate {
    #[prost(message, optional, tag = "1")]
    pub framework_id: Option<v1::FrameworkId>,
    #[prost(message, optional, tag = "2")]
    pub status: Option<v1::TaskStatus>,
    /// The latest state of the task on the agent, which may be ahead of `status`
    /// while earlier updates wait for acknowledgement (Mesos's `latest_state`).
    #[prost(enumeration = "v1::TaskState", optional, tag = "3")]
    pub latest_state: Option<i32>,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ExecutorExited {
    #[prost(message, optional, tag = "1")]
    pub framework_id: Option<v1::FrameworkId>,
    #[prost(message, optional, tag = "2")]
    pub executor_id: Option<v1::ExecutorId>,
    #[prost(int32, tag = "3")]
    pub status: i32,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct FrameworkMessage {
    #[prost(message, optional, tag = "1")]
    pub framework_id: Option<v1::FrameworkId>,
    #[prost(message, optional, tag = "2")]
    pub executor_id: Option<v1::ExecutorId>,
    #[prost(bytes = "vec", tag = "3")]
    pub data: Vec<u8>,
}

/// Agent -> master.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct AgentMessage {
    #[prost(oneof = "agent_message::Body", tags = "1, 2, 3, 4, 5")]
    pub body: Option<agent_message::Body>,
}

pub mod agent_message {
    #[derive(Clone, PartialEq, ::prost::Oneof)]
    pub enum Body {
        #[prost(message, tag = "1")]
        Register(super::Register),
        #[prost(message, tag = "2")]
        Heartbeat(super::Heartbeat),
        #[prost(message, tag = "3")]
        StatusUpdate(super::StatusUpdate),
        #[prost(message, tag = "4")]
        ExecutorExited(super::ExecutorExited),
        #[prost(message, tag = "5")]
        FrameworkMessage(super::FrameworkMessage),
    }
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Registered {
    #[prost(message, optional, tag = "1")]
    pub agent_id: Option<v1::AgentId>,
    /// How often the agent must send a heartbeat.
    #[prost(uint64, tag = "2")]
    pub heartbeat_interval_ms: u64,
    #[prost(message, optional, tag = "3")]
    pub master_info: Option<v1::MasterInfo>,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct RunTask {
    #[prost(message, optional, tag = "1")]
    pub framework_info: Option<v1::FrameworkInfo>,
    #[prost(message, optional, tag = "2")]
    pub task: Option<v1::TaskInfo>,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct RunTaskGroup {
    #[prost(message, optional, tag = "1")]
    pub framework_info: Option<v1::FrameworkInfo>,
    #[prost(message, optional, tag = "2")]
    pub executor: Option<v1::ExecutorInfo>,
    #[prost(message, optional, tag = "3")]
    pub task_group: Option<v1::TaskGroupInfo>,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct KillTask {
    #[prost(message, optional, tag = "1")]
    pub framework_id: Option<v1::FrameworkId>,
    #[prost(message, optional, tag = "2")]
    pub task_id: Option<v1::TaskId>,
    #[prost(message, optional, tag = "3")]
    pub kill_policy: Option<v1::KillPolicy>,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Acknowledge {
    #[prost(message, optional, tag = "1")]
    pub framework_id: Option<v1::FrameworkId>,
    #[prost(message, optional, tag = "2")]
    pub task_id: Option<v1::TaskId>,
    #[prost(bytes = "vec", tag = "3")]
    pub uuid: Vec<u8>,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ShutdownFramework {
    #[prost(message, optional, tag = "1")]
    pub framework_id: Option<v1::FrameworkId>,
}

#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ShutdownExecutor {
    #[prost(message, optional, tag = "1")]
    pub framework_id: Option<v1::FrameworkId>,
    #[prost(message, optional, tag = "2")]
    pub executor_id: Option<v1::ExecutorId>,
}

/// The agent's dynamic reservations and persistent volumes as the master
/// has made them durable (Mesos's `CheckpointResourcesMessage`). It is the
/// whole list, sent after every change and after every (re-)registration:
/// the agent keeps a copy, creates the directories of new volumes and
/// removes those of volumes no longer listed.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct CheckpointResources {
    #[prost(message, repeated, tag = "1")]
    pub resources: Vec<v1::Resource>,
}

/// The master refuses or ends this agent's registration.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Shutdown {
    #[prost(string, tag = "1")]
    pub reason: String,
}

/// Master -> agent.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct MasterMessage {
    #[prost(oneof = "master_message::Body", tags = "1, 2, 3, 4, 5, 6, 7, 8, 9, 10")]
    pub body: Option<master_message::Body>,
}

pub mod master_message {
    #[derive(Clone, PartialEq, ::prost::Oneof)]
    pub enum Body {
        #[prost(message, tag = "1")]
        Registered(super::Registered),
        #[prost(message, tag = "2")]
        RunTask(super::RunTask),
        #[prost(message, tag = "3")]
        RunTaskGroup(super::RunTaskGroup),
        #[prost(message, tag = "4")]
        KillTask(super::KillTask),
        #[prost(message, tag = "5")]
        Acknowledge(super::Acknowledge),
        #[prost(message, tag = "6")]
        ShutdownFramework(super::ShutdownFramework),
        #[prost(message, tag = "7")]
        ShutdownExecutor(super::ShutdownExecutor),
        #[prost(message, tag = "8")]
        FrameworkMessage(super::FrameworkMessage),
        #[prost(message, tag = "9")]
        Shutdown(super::Shutdown),
        #[prost(message, tag = "10")]
        CheckpointResources(super::CheckpointResources),
    }
}

/// The generated tonic client and server for `strata.internal.AgentLink`.
#[allow(clippy::all)]
pub mod agent_link {
    include!(concat!(env!("OUT_DIR"), "/strata.internal.AgentLink.rs"));
}

impl AgentMessage {
    /// Wraps a body.
    pub fn of(body: agent_message::Body) -> Self {
        Self { body: Some(body) }
    }
}

impl MasterMessage {
    /// Wraps a body.
    pub fn of(body: master_message::Body) -> Self {
        Self { body: Some(body) }
    }
}

//! Scenario tests of the master core: events in, framework events and agent
//! commands out, with time as a plain argument.

use std::time::Duration;

use strata_api::{AgentId, FrameworkId, TaskState};
use strata_proto::convert::{resources_to_wire, task_state_to_wire};
use strata_proto::internal::{self, master_message::Body as ToAgent};
use strata_proto::v1::{self, SchedulerEventType as E};
use tokio::sync::mpsc;

use crate::core::{ApiError, CoreConfig, MasterCore, Subscribed, Time};

const T0: Time = Duration::ZERO;

struct Fw {
    id: FrameworkId,
    stream: String,
    rx: mpsc::UnboundedReceiver<v1::SchedulerEvent>,
}

impl Fw {
    fn events(&mut self) -> Vec<v1::SchedulerEvent> {
        let mut out = Vec::new();
        while let Ok(e) = self.rx.try_recv() {
            out.push(e);
        }
        out
    }

    fn offers(&mut self) -> Vec<v1::Offer> {
        self.events()
            .into_iter()
            .filter(|e| e.r#type == Some(E::Offers as i32))
            .flat_map(|e| e.offers.unwrap().offers)
            .collect()
    }

    fn updates(&mut self) -> Vec<v1::TaskStatus> {
        self.events()
            .into_iter()
            .filter(|e| e.r#type == Some(E::Update as i32))
            .map(|e| e.update.unwrap().status.unwrap())
            .collect()
    }
}

fn core() -> MasterCore {
    MasterCore::new(CoreConfig {
        master_id: "m".into(),
        agent_ping_timeout: Duration::from_secs(1),
        max_agent_ping_timeouts: 3,
        ..CoreConfig::default()
    })
}

fn add_agent(
    core: &mut MasterCore,
    res: &str,
) -> (AgentId, mpsc::UnboundedReceiver<internal::MasterMessage>) {
    let (tx, rx) = mpsc::unbounded_channel();
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
    let id = core.register_agent(T0, reg, session, tx).unwrap();
    (id, rx)
}

fn subscribe(core: &mut MasterCore, caps: &[v1::FrameworkCapabilityType], failover: f64) -> Fw {
    let (tx, rx) = mpsc::unbounded_channel();
    let call = v1::SchedulerCall {
        r#type: Some(v1::SchedulerCallType::Subscribe as i32),
        subscribe: Some(v1::CallSubscribe {
            framework_info: Some(v1::FrameworkInfo {
                user: "u".into(),
                name: "f".into(),
                failover_timeout: Some(failover),
                capabilities: caps
                    .iter()
                    .map(|c| v1::FrameworkCapability {
                        r#type: Some(*c as i32),
                    })
                    .collect(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    match core.subscribe(T0, call, tx).unwrap() {
        Subscribed::Ok {
            framework_id,
            stream_id,
        } => Fw {
            id: framework_id,
            stream: stream_id,
            rx,
        },
        Subscribed::Refused => panic!("refused"),
    }
}

fn task(id: &str, agent: &str, res: &str, cmd: &str) -> v1::TaskInfo {
    v1::TaskInfo {
        name: id.into(),
        task_id: Some(v1::task_id(id)),
        agent_id: Some(v1::agent_id(agent)),
        resources: resources_to_wire(&res.parse().unwrap()),
        command: Some(v1::CommandInfo {
            value: Some(cmd.into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn accept(
    core: &mut MasterCore,
    fw: &Fw,
    offer: &v1::Offer,
    tasks: Vec<v1::TaskInfo>,
) -> Result<(), ApiError> {
    let call = v1::SchedulerCall {
        framework_id: Some(v1::framework_id(fw.id.as_str())),
        r#type: Some(v1::SchedulerCallType::Accept as i32),
        accept: Some(v1::CallAccept {
            offer_ids: vec![offer.id.clone().unwrap()],
            operations: vec![v1::OfferOperation {
                r#type: Some(v1::OperationType::Launch as i32),
                launch: Some(v1::OperationLaunch { task_infos: tasks }),
                ..Default::default()
            }],
            filters: Some(v1::Filters {
                refuse_seconds: Some(0.0),
            }),
        }),
        ..Default::default()
    };
    core.scheduler_call(T0, &fw.stream, call)
}

/// Records a heartbeat from `agent` at `now`.
fn heartbeat(core: &mut MasterCore, agent: &AgentId, now: Time) {
    let session = match &core.agents[agent].link {
        crate::core::AgentLink::Connected { session, .. } => *session,
        _ => panic!("agent not connected"),
    };
    assert!(core.agent_seen(now, agent, session));
}

fn run_tasks(rx: &mut mpsc::UnboundedReceiver<internal::MasterMessage>) -> Vec<v1::TaskInfo> {
    let mut out = Vec::new();
    while let Ok(m) = rx.try_recv() {
        if let Some(ToAgent::RunTask(r)) = m.body {
            out.push(r.task.unwrap());
        }
    }
    out
}

fn status_update(core: &mut MasterCore, agent: &AgentId, fw: &Fw, task: &str, state: TaskState) {
    core.status_update(
        T0,
        agent,
        internal::StatusUpdate {
            framework_id: Some(v1::framework_id(fw.id.as_str())),
            status: Some(v1::TaskStatus {
                task_id: Some(v1::task_id(task)),
                state: task_state_to_wire(state),
                uuid: Some(vec![7; 16]),
                ..Default::default()
            }),
            latest_state: None,
        },
    );
}

#[test]
fn a_subscribed_framework_gets_the_agents_resources_and_launches() {
    let mut c = core();
    let (agent, mut agent_rx) = add_agent(&mut c, "cpus:2;mem:1024;ports:[31000-31009]");
    let mut fw = subscribe(&mut c, &[], 0.0);
    let first = fw.events();
    assert_eq!(first[0].r#type, Some(E::Subscribed as i32));
    c.allocate(T0);
    let offers = fw.offers();
    assert_eq!(offers.len(), 1);
    assert_eq!(offers[0].agent_id.as_ref().unwrap().value, agent.as_str());
    accept(
        &mut c,
        &fw,
        &offers[0],
        vec![task("t1", agent.as_str(), "cpus:1;mem:128", "sleep 1")],
    )
    .unwrap();
    let launched = run_tasks(&mut agent_rx);
    assert_eq!(launched.len(), 1);
    assert_eq!(c.frameworks[&fw.id].tasks.len(), 1);
    // The unused remainder is offered again (refuse_seconds was 0).
    c.allocate(T0 + Duration::from_millis(1));
    let again = fw.offers();
    let res = strata_proto::convert::resources_from_wire(&again[0].resources).unwrap();
    assert_eq!(res.cpus(), 1.0);
    assert_eq!(res.mem(), 896.0);
}

#[test]
fn tasks_asking_for_more_than_the_offer_get_task_error() {
    let mut c = core();
    let (agent, mut agent_rx) = add_agent(&mut c, "cpus:1;mem:256");
    let mut fw = subscribe(&mut c, &[], 0.0);
    fw.events();
    c.allocate(T0);
    let offer = fw.offers().remove(0);
    accept(
        &mut c,
        &fw,
        &offer,
        vec![
            task("big", agent.as_str(), "cpus:4;mem:64", "true"),
            task("", agent.as_str(), "cpus:0.1;mem:64", "true"),
            task("ok", agent.as_str(), "cpus:0.5;mem:64", "true"),
        ],
    )
    .unwrap();
    let ups = fw.updates();
    assert_eq!(ups.len(), 2);
    assert!(ups
        .iter()
        .all(|u| u.state == v1::TaskState::TaskError as i32));
    assert!(
        ups[0]
            .message
            .as_deref()
            .unwrap()
            .contains("more resources"),
        "{:?}",
        ups[0].message
    );
    assert!(
        ups[1]
            .message
            .as_deref()
            .unwrap()
            .contains("must not be empty"),
        "{:?}",
        ups[1].message
    );
    assert_eq!(run_tasks(&mut agent_rx).len(), 1);
}

#[test]
fn a_stale_offer_drops_the_tasks_and_the_call_still_succeeds() {
    let mut c = core();
    let (agent, mut agent_rx) = add_agent(&mut c, "cpus:1;mem:256");
    let mut fw = subscribe(&mut c, &[v1::FrameworkCapabilityType::PartitionAware], 0.0);
    fw.events();
    c.allocate(T0);
    let offer = fw.offers().remove(0);
    accept(
        &mut c,
        &fw,
        &offer,
        vec![task("a", agent.as_str(), "cpus:0.5;mem:64", "true")],
    )
    .unwrap();
    // The same offer again: it is used up.
    accept(
        &mut c,
        &fw,
        &offer,
        vec![task("b", agent.as_str(), "cpus:0.5;mem:64", "true")],
    )
    .unwrap();
    let ups = fw.updates();
    assert_eq!(ups.len(), 1);
    assert_eq!(ups[0].state, v1::TaskState::TaskDropped as i32);
    assert_eq!(
        ups[0].reason,
        Some(v1::TaskStatusReason::ReasonInvalidOffers as i32)
    );
    assert_eq!(run_tasks(&mut agent_rx).len(), 1);
}

#[test]
fn calls_on_a_wrong_stream_or_without_a_framework_are_refused() {
    let mut c = core();
    let fw = subscribe(&mut c, &[], 0.0);
    let mut call = v1::SchedulerCall {
        framework_id: Some(v1::framework_id(fw.id.as_str())),
        r#type: Some(v1::SchedulerCallType::Revive as i32),
        ..Default::default()
    };
    assert_eq!(
        c.scheduler_call(T0, "other-stream", call.clone())
            .unwrap_err()
            .status,
        400
    );
    call.framework_id = Some(v1::framework_id("nobody"));
    assert_eq!(
        c.scheduler_call(T0, &fw.stream, call.clone())
            .unwrap_err()
            .status,
        403
    );
    call.framework_id = None;
    assert_eq!(
        c.scheduler_call(T0, &fw.stream, call).unwrap_err().status,
        400
    );
}

#[test]
fn an_unreachable_agent_loses_tasks_and_offers() {
    let mut c = core();
    let (agent, _agent_rx) = add_agent(&mut c, "cpus:2;mem:1024");
    let (_agent2, _rx2) = add_agent(&mut c, "cpus:2;mem:1024");
    let mut plain = subscribe(&mut c, &[], 0.0);
    let mut aware = subscribe(&mut c, &[v1::FrameworkCapabilityType::PartitionAware], 0.0);
    plain.events();
    aware.events();
    c.allocate(T0);
    let p = plain
        .offers()
        .into_iter()
        .find(|o| o.agent_id.as_ref().unwrap().value == agent.as_str());
    let a = aware
        .offers()
        .into_iter()
        .find(|o| o.agent_id.as_ref().unwrap().value == agent.as_str());
    // DRF gives one agent to each framework; launch on whichever got `agent`.
    let (owner, offer, pa) = match (p, a) {
        (Some(o), _) => (&mut plain, o, false),
        (_, Some(o)) => (&mut aware, o, true),
        _ => panic!("nobody got the agent"),
    };
    accept(
        &mut c,
        owner,
        &offer,
        vec![task("t", agent.as_str(), "cpus:1;mem:64", "sleep 100")],
    )
    .unwrap();
    let session = match &c.agents[&agent].link {
        crate::core::AgentLink::Connected { session, .. } => *session,
        _ => unreachable!(),
    };
    c.agent_disconnected(Duration::from_secs(1), &agent, session);
    c.tick(Duration::from_secs(2));
    assert!(
        owner.updates().is_empty(),
        "not unreachable before the timeout"
    );
    c.tick(Duration::from_secs(5));
    let events = owner.events();
    let ups: Vec<_> = events
        .iter()
        .filter_map(|e| e.update.as_ref())
        .map(|u| u.status.clone().unwrap())
        .collect();
    let want = if pa {
        v1::TaskState::TaskUnreachable
    } else {
        v1::TaskState::TaskLost
    };
    assert_eq!(ups.len(), 1);
    assert_eq!(ups[0].state, want as i32);
    assert!(events.iter().any(|e| e.r#type == Some(E::Failure as i32)));
    assert!(c.offers.values().all(|o| o.agent_id != agent));
}

#[test]
fn a_disconnected_framework_keeps_its_tasks_until_its_failover_timeout() {
    let mut c = core();
    let (agent, mut agent_rx) = add_agent(&mut c, "cpus:2;mem:1024");
    let mut fw = subscribe(&mut c, &[], 10.0);
    fw.events();
    c.allocate(T0);
    let offer = fw.offers().remove(0);
    accept(
        &mut c,
        &fw,
        &offer,
        vec![task("t", agent.as_str(), "cpus:1;mem:64", "sleep 100")],
    )
    .unwrap();
    status_update(&mut c, &agent, &fw, "t", TaskState::Running);
    c.framework_disconnected(Duration::from_secs(1), &fw.id, &fw.stream);
    heartbeat(&mut c, &agent, Duration::from_secs(4));
    c.tick(Duration::from_secs(5));
    assert!(c.frameworks.contains_key(&fw.id));
    // Re-subscribe with the same id: the task is still there.
    let (tx, mut rx) = mpsc::unbounded_channel();
    let call = v1::SchedulerCall {
        framework_id: Some(v1::framework_id(fw.id.as_str())),
        r#type: Some(v1::SchedulerCallType::Subscribe as i32),
        subscribe: Some(v1::CallSubscribe {
            framework_info: Some(v1::FrameworkInfo {
                user: "u".into(),
                name: "f".into(),
                failover_timeout: Some(10.0),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert!(matches!(
        c.subscribe(Duration::from_secs(6), call, tx).unwrap(),
        Subscribed::Ok { .. }
    ));
    assert_eq!(rx.try_recv().unwrap().r#type, Some(E::Subscribed as i32));
    assert_eq!(
        c.frameworks[&fw.id].tasks[&strata_api::TaskId::from("t")].state,
        TaskState::Running
    );
    let _ = run_tasks(&mut agent_rx);
}

#[test]
fn an_expired_failover_timeout_removes_the_framework_and_kills_its_tasks() {
    let mut c = core();
    let (agent, mut agent_rx) = add_agent(&mut c, "cpus:2;mem:1024");
    let mut fw = subscribe(&mut c, &[], 3.0);
    fw.events();
    c.allocate(T0);
    let offer = fw.offers().remove(0);
    accept(
        &mut c,
        &fw,
        &offer,
        vec![task("t", agent.as_str(), "cpus:1;mem:64", "sleep 100")],
    )
    .unwrap();
    let _ = run_tasks(&mut agent_rx);
    c.framework_disconnected(Duration::from_secs(1), &fw.id, &fw.stream);
    heartbeat(&mut c, &agent, Duration::from_secs(4));
    c.tick(Duration::from_secs(5));
    assert!(!c.frameworks.contains_key(&fw.id));
    let shutdown = std::iter::from_fn(|| agent_rx.try_recv().ok())
        .any(|m| matches!(m.body, Some(ToAgent::ShutdownFramework(_))));
    assert!(shutdown, "the agent is told to shut the framework down");
    // A removed framework may not come back.
    let (tx, mut rx) = mpsc::unbounded_channel();
    let call = v1::SchedulerCall {
        framework_id: Some(v1::framework_id(fw.id.as_str())),
        r#type: Some(v1::SchedulerCallType::Subscribe as i32),
        subscribe: Some(v1::CallSubscribe {
            framework_info: Some(v1::FrameworkInfo::default()),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert!(matches!(
        c.subscribe(Duration::from_secs(6), call, tx).unwrap(),
        Subscribed::Refused
    ));
    assert_eq!(rx.try_recv().unwrap().r#type, Some(E::Error as i32));
}

#[test]
fn terminal_updates_free_resources_and_acks_remove_the_task() {
    let mut c = core();
    let (agent, mut agent_rx) = add_agent(&mut c, "cpus:1;mem:256");
    let mut fw = subscribe(&mut c, &[], 0.0);
    fw.events();
    c.allocate(T0);
    let offer = fw.offers().remove(0);
    accept(
        &mut c,
        &fw,
        &offer,
        vec![task("t", agent.as_str(), "cpus:1;mem:256", "true")],
    )
    .unwrap();
    c.allocate(T0);
    assert!(fw.offers().is_empty(), "everything is in use");
    status_update(&mut c, &agent, &fw, "t", TaskState::Finished);
    c.allocate(T0);
    assert_eq!(
        fw.offers().len(),
        1,
        "the finished task's resources are offered again"
    );
    let ack = v1::SchedulerCall {
        framework_id: Some(v1::framework_id(fw.id.as_str())),
        r#type: Some(v1::SchedulerCallType::Acknowledge as i32),
        acknowledge: Some(v1::CallAcknowledge {
            agent_id: Some(v1::agent_id(agent.as_str())),
            task_id: Some(v1::task_id("t")),
            uuid: vec![7; 16],
        }),
        ..Default::default()
    };
    c.scheduler_call(T0, &fw.stream, ack).unwrap();
    assert!(c.frameworks[&fw.id].tasks.is_empty());
    assert_eq!(c.frameworks[&fw.id].completed_tasks.len(), 1);
    let acked = std::iter::from_fn(|| agent_rx.try_recv().ok())
        .any(|m| matches!(m.body, Some(ToAgent::Acknowledge(_))));
    assert!(acked, "the acknowledgement reaches the agent");
}

#[test]
fn reconcile_answers_known_and_unknown_tasks() {
    let mut c = core();
    let (agent, _rx) = add_agent(&mut c, "cpus:1;mem:256");
    let mut fw = subscribe(&mut c, &[], 0.0);
    fw.events();
    c.allocate(T0);
    let offer = fw.offers().remove(0);
    accept(
        &mut c,
        &fw,
        &offer,
        vec![task("t", agent.as_str(), "cpus:1;mem:64", "sleep 9")],
    )
    .unwrap();
    status_update(&mut c, &agent, &fw, "t", TaskState::Running);
    fw.events();
    let fid = fw.id.clone();
    let rec = |tasks: Vec<&str>| v1::SchedulerCall {
        framework_id: Some(v1::framework_id(fid.as_str())),
        r#type: Some(v1::SchedulerCallType::Reconcile as i32),
        reconcile: Some(v1::CallReconcile {
            tasks: tasks
                .into_iter()
                .map(|t| v1::CallReconcileTask {
                    task_id: Some(v1::task_id(t)),
                    agent_id: None,
                })
                .collect(),
        }),
        ..Default::default()
    };
    c.scheduler_call(T0, &fw.stream, rec(vec![])).unwrap();
    let ups = fw.updates();
    assert_eq!(ups.len(), 1);
    assert_eq!(ups[0].state, v1::TaskState::TaskRunning as i32);
    assert!(
        ups[0].uuid.is_none(),
        "reconciliation answers are not acknowledged"
    );
    c.scheduler_call(T0, &fw.stream, rec(vec!["t", "ghost"]))
        .unwrap();
    let ups = fw.updates();
    assert_eq!(ups[1].state, v1::TaskState::TaskLost as i32);
}

#[test]
fn a_framework_in_a_role_gets_offers_in_that_role_and_bad_roles_are_refused() {
    let mut c = core();
    let (_agent, _rx) = add_agent(&mut c, "cpus:2;mem:1024");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let call = |role: &str| v1::SchedulerCall {
        r#type: Some(v1::SchedulerCallType::Subscribe as i32),
        subscribe: Some(v1::CallSubscribe {
            framework_info: Some(v1::FrameworkInfo {
                user: "u".into(),
                name: "f".into(),
                role: Some(role.into()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(
        c.subscribe(T0, call("bad role"), tx.clone())
            .unwrap_err()
            .status,
        400
    );
    assert!(matches!(
        c.subscribe(T0, call("eng/backend"), tx).unwrap(),
        Subscribed::Ok { .. }
    ));
    c.allocate(T0);
    let offers: Vec<v1::Offer> = std::iter::from_fn(|| rx.try_recv().ok())
        .filter_map(|e| e.offers)
        .flat_map(|o| o.offers)
        .collect();
    assert_eq!(offers.len(), 1);
    assert_eq!(
        offers[0]
            .allocation_info
            .as_ref()
            .and_then(|a| a.role.as_deref()),
        Some("eng/backend")
    );
    assert!(offers[0].resources.iter().all(|r| r
        .allocation_info
        .as_ref()
        .and_then(|a| a.role.as_deref())
        == Some("eng/backend")));
}

// === reservations and persistent volumes ===

mod reservations {
    use std::time::Duration;

    use strata_api::{
        AgentId, DetailedResources, Persistence, Reservation, ResourceKind, Resources,
        RoleResources, TaskState,
    };
    use strata_proto::convert::{detailed_from_wire, detailed_to_wire};
    use strata_proto::internal::{self, master_message::Body as ToAgent};
    use strata_proto::v1::{self, SchedulerEventType as E};
    use tokio::sync::mpsc;

    use super::{core, status_update, task, Fw, T0};
    use crate::core::{MasterCore, Subscribed, Time};
    use crate::registry::{Registry, RegistryOp};

    type AgentRx = mpsc::UnboundedReceiver<internal::MasterMessage>;

    /// An agent whose `--resources` are `res` (static reservations allowed).
    fn add_agent(core: &mut MasterCore, id: Option<&str>, res: &str) -> (AgentId, AgentRx) {
        let (tx, rx) = mpsc::unbounded_channel();
        let session = core.new_session();
        let configured: RoleResources = res.parse().unwrap();
        let reg = internal::Register {
            agent_info: Some(v1::AgentInfo {
                hostname: "127.0.0.1".into(),
                id: id.map(v1::agent_id),
                resources: detailed_to_wire(&DetailedResources::from(&configured)),
                ..Default::default()
            }),
            http_endpoint: "http://127.0.0.1:5051".into(),
            ..Default::default()
        };
        let id = core.register_agent(T0, reg, session, tx).unwrap();
        (id, rx)
    }

    fn subscribe_in(core: &mut MasterCore, role: &str, principal: Option<&str>) -> Fw {
        let (tx, rx) = mpsc::unbounded_channel();
        let call = v1::SchedulerCall {
            r#type: Some(v1::SchedulerCallType::Subscribe as i32),
            subscribe: Some(v1::CallSubscribe {
                framework_info: Some(v1::FrameworkInfo {
                    user: "u".into(),
                    name: format!("in-{role}"),
                    role: Some(role.into()),
                    principal: principal.map(str::to_owned),
                    failover_timeout: Some(600.0),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        match core.subscribe(T0, call, tx).unwrap() {
            Subscribed::Ok {
                framework_id,
                stream_id,
            } => {
                let mut fw = Fw {
                    id: framework_id,
                    stream: stream_id,
                    rx,
                };
                fw.events();
                fw
            }
            Subscribed::Refused => panic!("refused"),
        }
    }

    fn dynamic(role: &str) -> ResourceKind {
        ResourceKind::reserved(Reservation::dynamic_for(role, Some("ops")))
    }

    fn volume_kind(role: &str, id: &str) -> ResourceKind {
        ResourceKind {
            persistence: Some(Persistence {
                id: id.into(),
                principal: Some("ops".into()),
            }),
            ..dynamic(role)
        }
    }

    fn wire(kind: ResourceKind, res: &str) -> Vec<v1::Resource> {
        detailed_to_wire(&DetailedResources::new().with(kind, &res.parse().unwrap()))
    }

    /// A volume resource as CREATE names it: with where to mount it.
    fn volume(role: &str, id: &str, res: &str, path: &str) -> Vec<v1::Resource> {
        let mut w = wire(volume_kind(role, id), res);
        for r in &mut w {
            r.disk.as_mut().unwrap().volume = Some(v1::Volume {
                mode: v1::VolumeMode::Rw as i32,
                container_path: path.into(),
                host_path: None,
            });
        }
        w
    }

    fn op(
        kind: v1::OperationType,
        id: Option<&str>,
        resources: Vec<v1::Resource>,
    ) -> v1::OfferOperation {
        let list = v1::OperationResources {
            resources: resources.clone(),
        };
        let vols = v1::OperationVolumes { volumes: resources };
        let mut o = v1::OfferOperation {
            r#type: Some(kind as i32),
            id: id.map(|i| v1::OperationId { value: i.into() }),
            ..Default::default()
        };
        match kind {
            v1::OperationType::Reserve => o.reserve = Some(list),
            v1::OperationType::Unreserve => o.unreserve = Some(list),
            v1::OperationType::Create => o.create = Some(vols),
            v1::OperationType::Destroy => o.destroy = Some(vols),
            _ => unreachable!(),
        }
        o
    }

    fn launch(tasks: Vec<v1::TaskInfo>) -> v1::OfferOperation {
        v1::OfferOperation {
            r#type: Some(v1::OperationType::Launch as i32),
            launch: Some(v1::OperationLaunch { task_infos: tasks }),
            ..Default::default()
        }
    }

    fn accept_ops(core: &mut MasterCore, fw: &Fw, offer: &v1::Offer, ops: Vec<v1::OfferOperation>) {
        let call = v1::SchedulerCall {
            framework_id: Some(v1::framework_id(fw.id.as_str())),
            r#type: Some(v1::SchedulerCallType::Accept as i32),
            accept: Some(v1::CallAccept {
                offer_ids: vec![offer.id.clone().unwrap()],
                operations: ops,
                filters: Some(v1::Filters {
                    refuse_seconds: Some(0.0),
                }),
            }),
            ..Default::default()
        };
        core.scheduler_call(T0, &fw.stream, call).unwrap();
    }

    /// The one offer `fw` gets from an allocation at `now`.
    fn one_offer(core: &mut MasterCore, fw: &mut Fw, now: Time) -> v1::Offer {
        core.allocate(now);
        let mut offers = fw.offers();
        assert_eq!(offers.len(), 1, "{offers:?}");
        offers.remove(0)
    }

    fn detail(offer: &v1::Offer) -> DetailedResources {
        detailed_from_wire(&offer.resources).unwrap()
    }

    fn res(s: &str) -> Resources {
        s.parse().unwrap()
    }

    fn checkpoints(rx: &mut AgentRx) -> Vec<Vec<v1::Resource>> {
        std::iter::from_fn(|| rx.try_recv().ok())
            .filter_map(|m| match m.body {
                Some(ToAgent::CheckpointResources(c)) => Some(c.resources),
                _ => None,
            })
            .collect()
    }

    fn operation_statuses(fw: &mut Fw) -> Vec<v1::OperationStatus> {
        fw.events()
            .into_iter()
            .filter(|e| e.r#type == Some(E::UpdateOperationStatus as i32))
            .map(|e| e.update_operation_status.unwrap().status.unwrap())
            .collect()
    }

    /// The registry as a restarted master would load it.
    fn registry_of(ops: &[RegistryOp]) -> Registry {
        let mut reg = Registry::default();
        for op in ops {
            match op {
                RegistryOp::PutAgent(id, rec) => {
                    reg.agents.retain(|(a, _)| a != id);
                    reg.agents.push((id.clone(), rec.clone()));
                }
                RegistryOp::PutFramework(_, info) => {
                    reg.frameworks.retain(|f| f.id != info.id);
                    reg.frameworks.push(info.clone());
                }
                _ => {}
            }
        }
        reg
    }

    #[test]
    fn static_reservations_are_offered_to_their_role_only() {
        let mut c = core();
        let (agent, _rx) = add_agent(
            &mut c,
            None,
            "cpus(analytics):4;mem(analytics):4096;cpus:2;mem:1024",
        );
        let mut analytics = subscribe_in(&mut c, "analytics", None);
        let mut web = subscribe_in(&mut c, "web", None);
        c.allocate(T0);
        let a = analytics.offers();
        let w = web.offers();
        let reserved_kind = ResourceKind::reserved(Reservation::static_for("analytics"));
        let all: Vec<&v1::Offer> = a.iter().chain(&w).collect();
        assert!(!a.is_empty(), "analytics is offered its reservation");
        let got = detailed_from_wire(
            &a.iter()
                .flat_map(|o| o.resources.clone())
                .collect::<Vec<_>>(),
        )
        .unwrap();
        assert_eq!(got.get(&reserved_kind), res("cpus:4;mem:4096"));
        for o in &w {
            assert!(
                !detail(o).has_reservations(),
                "web never sees reserved resources"
            );
        }
        // Reserved resources carry both formats and the offer's role.
        let r = all
            .iter()
            .flat_map(|o| o.resources.iter())
            .find(|r| r.role.as_deref() == Some("analytics"))
            .unwrap();
        assert_eq!(
            r.reservations[0].r#type,
            Some(v1::ReservationType::Static as i32)
        );
        assert_eq!(r.reservations[0].role.as_deref(), Some("analytics"));
        assert_eq!(
            r.allocation_info.as_ref().and_then(|x| x.role.as_deref()),
            Some("analytics")
        );
        let state = crate::state_json::slaves(&c);
        let s = &state["slaves"][0];
        assert_eq!(s["id"], agent.as_str());
        assert_eq!(s["reserved_resources"]["analytics"]["cpus"], 4.0);
        assert_eq!(s["unreserved_resources"]["cpus"], 2.0);
        assert_eq!(s["resources"]["cpus"], 6.0);
        assert_eq!(
            s["reserved_resources_full"]["analytics"][0]["reservations"][0]["type"],
            "STATIC"
        );
    }

    #[test]
    fn reserve_create_launch_then_destroy_and_unreserve_apply_in_order() {
        let mut c = core();
        let (agent, mut agent_rx) = add_agent(&mut c, None, "cpus:4;mem:1024;disk:1000");
        checkpoints(&mut agent_rx); // the empty one sent at registration
        let mut fw = subscribe_in(&mut c, "eng", Some("ops"));
        let offer = one_offer(&mut c, &mut fw, T0);
        // One ACCEPT: reserve, make a volume of part of the reserved disk,
        // and launch a task on the reserved cpus with the volume.
        let mut t = task("writer", agent.as_str(), "mem:64", "echo hi > data/f");
        t.resources.extend(wire(dynamic("eng"), "cpus:1"));
        t.resources.extend(volume("eng", "db", "disk:100", "data"));
        accept_ops(
            &mut c,
            &fw,
            &offer,
            vec![
                op(
                    v1::OperationType::Reserve,
                    Some("r1"),
                    wire(dynamic("eng"), "cpus:1;mem:64;disk:300"),
                ),
                op(
                    v1::OperationType::Create,
                    None,
                    volume("eng", "db", "disk:100", "data"),
                ),
                launch(vec![t]),
            ],
        );
        let statuses = operation_statuses(&mut fw);
        assert_eq!(statuses.len(), 1);
        assert_eq!(
            statuses[0].state,
            v1::OperationState::OperationFinished as i32
        );
        let msgs: Vec<_> = std::iter::from_fn(|| agent_rx.try_recv().ok()).collect();
        let checkpointed: Vec<_> = msgs
            .iter()
            .filter_map(|m| match &m.body {
                Some(ToAgent::CheckpointResources(c)) => Some(c.resources.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(checkpointed.len(), 2, "one checkpoint per operation");
        let last = detailed_from_wire(checkpointed.last().unwrap()).unwrap();
        assert_eq!(last.get(&dynamic("eng")), res("cpus:1;mem:64;disk:200"));
        assert_eq!(last.get(&volume_kind("eng", "db")), res("disk:100"));
        let run = msgs
            .iter()
            .find_map(|m| match &m.body {
                Some(ToAgent::RunTask(r)) => r.task.clone(),
                _ => None,
            })
            .expect("the task is launched");
        let vol = run.resources.iter().find(|r| r.disk.is_some()).unwrap();
        assert_eq!(
            vol.disk
                .as_ref()
                .unwrap()
                .volume
                .as_ref()
                .unwrap()
                .container_path,
            "data"
        );
        assert!(run.resources.iter().all(|r| r
            .allocation_info
            .as_ref()
            .and_then(|a| a.role.as_deref())
            == Some("eng")));
        assert!(c.registry_ops.iter().any(|op| matches!(op,
            RegistryOp::PutAgent(_, rec) if !rec.checkpointed_resources.is_empty())));

        // The rest comes back: the reserved memory and the disk not in the
        // volume, the unreserved remainder; the volume is in use, so not
        // offered. (A reservation's free part is offered only if it holds
        // cpus or memory, as in Mesos: disk alone is not allocatable.)
        let o2 = one_offer(&mut c, &mut fw, T0 + Duration::from_millis(1));
        let d2 = detail(&o2);
        assert_eq!(d2.get(&dynamic("eng")), res("mem:64;disk:200"));
        assert_eq!(d2.unreserved(), res("cpus:3;mem:896;disk:700"));
        assert!(d2.volumes().next().is_none());
        // DESTROY while the task runs: dropped, with the reason.
        accept_ops(
            &mut c,
            &fw,
            &o2,
            vec![op(
                v1::OperationType::Destroy,
                Some("d0"),
                volume("eng", "db", "disk:100", "data"),
            )],
        );
        let st = operation_statuses(&mut fw);
        assert_eq!(st[0].state, v1::OperationState::OperationError as i32);
        assert!(
            st[0]
                .message
                .as_deref()
                .unwrap()
                .contains("in use by task writer"),
            "{st:?}"
        );

        // The task ends: its cpus, memory and the volume are offered again.
        status_update(&mut c, &agent, &fw, "writer", TaskState::Finished);
        let o3 = one_offer(&mut c, &mut fw, T0 + Duration::from_millis(2));
        let d3 = detail(&o3);
        assert_eq!(d3.get(&volume_kind("eng", "db")), res("disk:100"));
        assert_eq!(d3.get(&dynamic("eng")), res("cpus:1;mem:64;disk:200"));
        let vol = o3
            .resources
            .iter()
            .find(|r| r.disk.as_ref().is_some_and(|d| d.persistence.is_some()))
            .unwrap();
        assert_eq!(
            vol.disk
                .as_ref()
                .unwrap()
                .volume
                .as_ref()
                .unwrap()
                .container_path,
            "data"
        );
        // DESTROY, then UNRESERVE everything the destroy gave back.
        accept_ops(
            &mut c,
            &fw,
            &o3,
            vec![
                op(
                    v1::OperationType::Destroy,
                    None,
                    volume("eng", "db", "disk:100", "data"),
                ),
                op(
                    v1::OperationType::Unreserve,
                    None,
                    wire(dynamic("eng"), "cpus:1;mem:64;disk:300"),
                ),
            ],
        );
        assert!(operation_statuses(&mut fw).is_empty());
        let cps = checkpoints(&mut agent_rx);
        assert!(
            cps.last().unwrap().is_empty(),
            "nothing left checkpointed: {cps:?}"
        );
        let o4 = one_offer(&mut c, &mut fw, T0 + Duration::from_millis(3));
        assert_eq!(
            detail(&o4),
            DetailedResources::from(res("cpus:4;mem:1024;disk:1000"))
        );
    }

    #[test]
    fn invalid_operations_are_dropped_with_a_reason_and_change_nothing() {
        let mut c = core();
        let (agent, mut agent_rx) = add_agent(&mut c, None, "cpus:2;mem:512;disk:100");
        checkpoints(&mut agent_rx); // the empty one sent at registration
        let mut fw = subscribe_in(&mut c, "eng", None);
        let offer = one_offer(&mut c, &mut fw, T0);
        let mut negative = wire(dynamic("eng"), "cpus:1");
        negative[0].scalar = Some(v1::ValueScalar { value: -1.0 });
        let mut nan = wire(dynamic("eng"), "cpus:1");
        nan[0].scalar = Some(v1::ValueScalar { value: f64::NAN });
        let mut bad_role = wire(dynamic("eng"), "cpus:1");
        bad_role[0].reservations[0].role = Some("bad role".into());
        bad_role[0].role = None;
        let unreserved_volume = {
            let mut w = volume("eng", "v", "disk:10", "data");
            w[0].reservations.clear();
            w[0].reservation = None;
            w[0].role = None;
            w
        };
        let cases = vec![
            (
                "role",
                op(
                    v1::OperationType::Reserve,
                    Some("role"),
                    wire(dynamic("other"), "cpus:1"),
                ),
                "cannot reserve for role \"other\"",
            ),
            (
                "much",
                op(
                    v1::OperationType::Reserve,
                    Some("much"),
                    wire(dynamic("eng"), "cpus:3"),
                ),
                "the offers hold only",
            ),
            (
                "static",
                op(
                    v1::OperationType::Reserve,
                    Some("static"),
                    wire(
                        ResourceKind::reserved(Reservation::static_for("eng")),
                        "cpus:1",
                    ),
                ),
                "only DYNAMIC",
            ),
            (
                "unres",
                op(
                    v1::OperationType::Unreserve,
                    Some("unres"),
                    wire(dynamic("eng"), "cpus:1"),
                ),
                "cannot unreserve",
            ),
            (
                "plain",
                op(
                    v1::OperationType::Unreserve,
                    Some("plain"),
                    strata_proto::convert::resources_to_wire(&res("cpus:1")),
                ),
                "not reserved",
            ),
            (
                "create",
                op(v1::OperationType::Create, Some("create"), unreserved_volume),
                "must be made of reserved disk",
            ),
            (
                "create2",
                op(
                    v1::OperationType::Create,
                    Some("create2"),
                    volume("eng", "v", "disk:10", "data"),
                ),
                "cannot create",
            ),
            (
                "destroy",
                op(
                    v1::OperationType::Destroy,
                    Some("destroy"),
                    volume("eng", "nope", "disk:10", "data"),
                ),
                "no persistent volume",
            ),
            (
                "badrole",
                op(v1::OperationType::Reserve, Some("badrole"), bad_role),
                "invalid role",
            ),
            (
                "neg",
                op(v1::OperationType::Reserve, Some("neg"), negative),
                "invalid scalar value",
            ),
            (
                "nan",
                op(v1::OperationType::Reserve, Some("nan"), nan),
                "invalid scalar value",
            ),
            (
                "escape",
                op(
                    v1::OperationType::Create,
                    Some("escape"),
                    volume("eng", "v", "disk:10", "../up"),
                ),
                "must not contain '..'",
            ),
        ];
        let (ops, wants): (Vec<_>, Vec<_>) =
            cases.into_iter().map(|(id, o, w)| (o, (id, w))).unzip();
        accept_ops(&mut c, &fw, &offer, ops);
        let statuses = operation_statuses(&mut fw);
        assert_eq!(statuses.len(), wants.len());
        for (st, (id, want)) in statuses.iter().zip(wants) {
            assert_eq!(st.operation_id.as_ref().unwrap().value, id);
            assert_eq!(st.state, v1::OperationState::OperationError as i32, "{id}");
            let msg = st.message.as_deref().unwrap_or("");
            assert!(msg.contains(want), "{id}: {msg:?} should contain {want:?}");
        }
        assert!(
            checkpoints(&mut agent_rx).is_empty(),
            "nothing was checkpointed"
        );
        assert_eq!(c.counters.operations.get(&("RESERVE", "error")), Some(&6));
        // Invariants: the whole agent is offered again, unreserved, and the
        // allocator's accounting is whole.
        let again = one_offer(&mut c, &mut fw, T0 + Duration::from_millis(1));
        assert_eq!(
            detail(&again),
            DetailedResources::from(res("cpus:2;mem:512;disk:100"))
        );
        assert_eq!(
            c.allocator.agent_total(&agent).unwrap(),
            RoleResources::from(res("cpus:2;mem:512;disk:100"))
        );
        // A framework in '*' may not reserve at all.
        let mut star = subscribe_in(&mut c, "*", None);
        c.scheduler_call(
            T0,
            &fw.stream,
            v1::SchedulerCall {
                framework_id: Some(v1::framework_id(fw.id.as_str())),
                r#type: Some(v1::SchedulerCallType::Decline as i32),
                decline: Some(v1::CallDecline {
                    offer_ids: vec![again.id.clone().unwrap()],
                    filters: Some(v1::Filters {
                        refuse_seconds: Some(100.0),
                    }),
                }),
                ..Default::default()
            },
        )
        .unwrap();
        let so = one_offer(&mut c, &mut star, T0 + Duration::from_millis(2));
        accept_ops(
            &mut c,
            &star,
            &so,
            vec![op(
                v1::OperationType::Reserve,
                Some("s"),
                wire(dynamic("eng"), "cpus:1"),
            )],
        );
        let st = operation_statuses(&mut star);
        assert!(
            st[0].message.as_deref().unwrap().contains("default role"),
            "{st:?}"
        );
    }

    #[test]
    fn dynamic_reservations_and_volumes_survive_a_master_restart() {
        let mut c = core();
        let (agent, _rx) = add_agent(&mut c, None, "cpus:4;mem:1024;disk:1000");
        let mut fw = subscribe_in(&mut c, "eng", Some("ops"));
        let offer = one_offer(&mut c, &mut fw, T0);
        accept_ops(
            &mut c,
            &fw,
            &offer,
            vec![
                op(
                    v1::OperationType::Reserve,
                    None,
                    wire(dynamic("eng"), "cpus:1;disk:300"),
                ),
                op(
                    v1::OperationType::Create,
                    None,
                    volume("eng", "db", "disk:100", "data"),
                ),
            ],
        );
        let ops = std::mem::take(&mut c.registry_ops);
        let registry = registry_of(&ops);

        // A new master from the registry; the agent comes back with its id.
        let mut c2 = core();
        c2.recover(T0, registry);
        let (again, mut rx2) =
            add_agent(&mut c2, Some(agent.as_str()), "cpus:4;mem:1024;disk:1000");
        assert_eq!(again, agent);
        let cp = checkpoints(&mut rx2);
        let cp = detailed_from_wire(cp.last().expect("the agent gets its checkpoint")).unwrap();
        assert_eq!(cp.get(&volume_kind("eng", "db")), res("disk:100"));
        let call = v1::SchedulerCall {
            framework_id: Some(v1::framework_id(fw.id.as_str())),
            r#type: Some(v1::SchedulerCallType::Subscribe as i32),
            subscribe: Some(v1::CallSubscribe {
                framework_info: Some(v1::FrameworkInfo {
                    user: "u".into(),
                    name: "in-eng".into(),
                    id: Some(v1::framework_id(fw.id.as_str())),
                    role: Some("eng".into()),
                    principal: Some("ops".into()),
                    failover_timeout: Some(600.0),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let Subscribed::Ok { stream_id, .. } = c2.subscribe(T0, call, tx).unwrap() else {
            panic!("refused");
        };
        let mut fw2 = Fw {
            id: fw.id.clone(),
            stream: stream_id,
            rx,
        };
        fw2.events();
        let o = one_offer(&mut c2, &mut fw2, T0);
        let d = detail(&o);
        assert_eq!(d.get(&dynamic("eng")), res("cpus:1;disk:200"));
        assert_eq!(d.get(&volume_kind("eng", "db")), res("disk:100"));
        // Another role sees none of it.
        let mut other = subscribe_in(&mut c2, "web", None);
        c2.allocate(T0 + Duration::from_millis(1));
        assert!(other.offers().iter().all(|o| !detail(o).has_reservations()));
    }

    #[test]
    fn operators_reserve_and_unreserve_what_is_free() {
        let mut c = core();
        let (agent, mut agent_rx) = add_agent(&mut c, None, "cpus:4;mem:1024");
        checkpoints(&mut agent_rx); // the empty one sent at registration
        let mut fw = subscribe_in(&mut c, "eng", None);
        let _held = one_offer(&mut c, &mut fw, T0);
        // The offer holds everything: it is rescinded to make room.
        c.operator_reserve(&agent, &wire(dynamic("eng"), "cpus:2;mem:256"))
            .unwrap();
        assert!(fw
            .events()
            .iter()
            .any(|e| e.r#type == Some(E::Rescind as i32)));
        assert_eq!(checkpoints(&mut agent_rx).len(), 1);
        let e = c
            .operator_reserve(&agent, &wire(dynamic("eng"), "cpus:3"))
            .unwrap_err();
        assert_eq!(e.status, 409, "{e:?}");
        assert!(e.message.contains("only cpus:2"), "{}", e.message);
        let e = c
            .operator_reserve(
                &agent,
                &strata_proto::convert::resources_to_wire(&res("cpus:1")),
            )
            .unwrap_err();
        assert_eq!(e.status, 400, "unreserved resources: {e:?}");
        let e = c
            .operator_reserve(&AgentId::from("nobody"), &wire(dynamic("eng"), "cpus:1"))
            .unwrap_err();
        assert_eq!(e.status, 409);
        let o = one_offer(&mut c, &mut fw, T0 + Duration::from_millis(1));
        assert_eq!(detail(&o).get(&dynamic("eng")), res("cpus:2;mem:256"));
        // A task uses part of the reservation: only the rest can go.
        let mut t = task("t", agent.as_str(), "mem:32", "sleep 9");
        t.resources = wire(dynamic("eng"), "cpus:1;mem:32");
        accept_ops(&mut c, &fw, &o, vec![launch(vec![t])]);
        let e = c
            .operator_unreserve(&agent, &wire(dynamic("eng"), "cpus:2;mem:256"))
            .unwrap_err();
        assert_eq!(e.status, 409, "{e:?}");
        c.operator_unreserve(&agent, &wire(dynamic("eng"), "cpus:1;mem:224"))
            .unwrap();
        assert_eq!(
            c.agents[&agent].resources.checkpointed.get(&dynamic("eng")),
            res("cpus:1;mem:32")
        );
        let e = c
            .operator_unreserve(
                &agent,
                &wire(
                    ResourceKind::reserved(Reservation::static_for("eng")),
                    "cpus:1",
                ),
            )
            .unwrap_err();
        assert_eq!(e.status, 400);
    }

    #[test]
    fn reregistered_tasks_keep_their_role_and_give_back_to_their_reservation() {
        let mut c = core();
        let (agent, mut agent_rx) =
            add_agent(&mut c, None, "cpus:2;mem:512;cpus(eng):2;mem(eng):512");
        let mut fw = subscribe_in(&mut c, "eng", None);
        let offer = one_offer(&mut c, &mut fw, T0);
        let mut t = task("t", agent.as_str(), "mem:1", "sleep 100");
        t.resources = wire(
            ResourceKind::reserved(Reservation::static_for("eng")),
            "cpus:1;mem:128",
        );
        accept_ops(&mut c, &fw, &offer, vec![launch(vec![t])]);
        let launched = std::iter::from_fn(|| agent_rx.try_recv().ok())
            .find_map(|m| match m.body {
                Some(ToAgent::RunTask(r)) => r.task,
                _ => None,
            })
            .unwrap();
        let ops = std::mem::take(&mut c.registry_ops);
        // A new master; the agent re-registers with the task.
        let mut c2 = core();
        c2.recover(T0, registry_of(&ops));
        let (tx, _rx2) = mpsc::unbounded_channel();
        let session = c2.new_session();
        let configured: RoleResources = "cpus:2;mem:512;cpus(eng):2;mem(eng):512".parse().unwrap();
        c2.register_agent(
            T0,
            internal::Register {
                agent_info: Some(v1::AgentInfo {
                    hostname: "127.0.0.1".into(),
                    id: Some(v1::agent_id(agent.as_str())),
                    resources: detailed_to_wire(&DetailedResources::from(&configured)),
                    ..Default::default()
                }),
                tasks: vec![internal::TaskReport {
                    framework_id: Some(v1::framework_id(fw.id.as_str())),
                    task: Some(launched),
                    state: strata_proto::convert::task_state_to_wire(TaskState::Running),
                }],
                http_endpoint: "http://127.0.0.1:5051".into(),
                ..Default::default()
            },
            session,
            tx,
        )
        .unwrap();
        let tid = strata_api::TaskId::from("t");
        assert_eq!(c2.frameworks[&fw.id].tasks[&tid].role, "eng");
        assert_eq!(
            c2.allocator
                .agent_free_tagged(&agent)
                .unwrap()
                .reservation("eng"),
            Some(&res("cpus:1;mem:384"))
        );
        // The task ends: its resources return to the reservation.
        let session_fw = {
            let (tx, rx) = mpsc::unbounded_channel();
            let call = v1::SchedulerCall {
                framework_id: Some(v1::framework_id(fw.id.as_str())),
                r#type: Some(v1::SchedulerCallType::Subscribe as i32),
                subscribe: Some(v1::CallSubscribe {
                    framework_info: Some(v1::FrameworkInfo {
                        user: "u".into(),
                        name: "in-eng".into(),
                        id: Some(v1::framework_id(fw.id.as_str())),
                        role: Some("eng".into()),
                        failover_timeout: Some(600.0),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            };
            let Subscribed::Ok { stream_id, .. } = c2.subscribe(T0, call, tx).unwrap() else {
                panic!("refused")
            };
            Fw {
                id: fw.id.clone(),
                stream: stream_id,
                rx,
            }
        };
        status_update(&mut c2, &agent, &session_fw, "t", TaskState::Finished);
        assert_eq!(
            c2.allocator.agent_total(&agent).unwrap().reservation("eng"),
            Some(&res("cpus:2;mem:512"))
        );
        c2.allocate(T0);
        let offered: DetailedResources = c2
            .offers
            .values()
            .map(|o| c2.offer_detail(o))
            .fold(DetailedResources::new(), |a, b| a.plus(&b));
        assert_eq!(
            offered.get(&ResourceKind::reserved(Reservation::static_for("eng"))),
            res("cpus:2;mem:512"),
            "the whole reservation is free again"
        );
    }

    #[test]
    fn starvation_is_shown_per_framework_and_role() {
        let mut c = core();
        let (_agent, _rx) = add_agent(&mut c, None, "cpus:1;mem:256");
        let mut fed = subscribe_in(&mut c, "eng", None);
        let _hungry = subscribe_in(&mut c, "web", None);
        let _ = one_offer(&mut c, &mut fed, T0);
        c.allocate(Duration::from_secs(7));
        let state = crate::state_json::state(&c, Duration::from_secs(10));
        let frameworks = state["frameworks"].as_array().unwrap();
        let by_role = |role: &str| {
            frameworks
                .iter()
                .find(|f| f["role"] == role)
                .map(|f| f["starvation"][role].as_f64().unwrap())
                .unwrap()
        };
        assert_eq!(by_role("web"), 10.0, "never offered anything");
        assert_eq!(by_role("eng"), 10.0, "offered at T0 and nothing since");
    }
}

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

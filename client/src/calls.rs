//! Builders for the scheduler calls frameworks send most. Each returns a
//! complete [`v1::SchedulerCall`] for [`SchedulerClient::call`](crate::SchedulerClient::call).

use strata_proto::v1;

fn call(framework_id: &v1::FrameworkId, kind: v1::SchedulerCallType) -> v1::SchedulerCall {
    v1::SchedulerCall {
        framework_id: Some(framework_id.clone()),
        r#type: Some(kind as i32),
        ..Default::default()
    }
}

/// Filters that keep declined or unused resources away for `seconds`.
pub fn refuse_seconds(seconds: f64) -> v1::Filters {
    v1::Filters {
        refuse_seconds: Some(seconds),
    }
}

/// A LAUNCH operation for an ACCEPT.
pub fn launch(task_infos: Vec<v1::TaskInfo>) -> v1::OfferOperation {
    v1::OfferOperation {
        r#type: Some(v1::OperationType::Launch as i32),
        launch: Some(v1::OperationLaunch { task_infos }),
        ..Default::default()
    }
}

/// ACCEPT with any operations.
pub fn accept(
    framework_id: &v1::FrameworkId,
    offer_ids: Vec<v1::OfferId>,
    operations: Vec<v1::OfferOperation>,
    filters: Option<v1::Filters>,
) -> v1::SchedulerCall {
    v1::SchedulerCall {
        accept: Some(v1::CallAccept {
            offer_ids,
            operations,
            filters,
        }),
        ..call(framework_id, v1::SchedulerCallType::Accept)
    }
}

/// ACCEPT that launches `task_infos` on the offers.
pub fn accept_launch(
    framework_id: &v1::FrameworkId,
    offer_ids: Vec<v1::OfferId>,
    task_infos: Vec<v1::TaskInfo>,
    filters: Option<v1::Filters>,
) -> v1::SchedulerCall {
    accept(framework_id, offer_ids, vec![launch(task_infos)], filters)
}

/// DECLINE the offers.
pub fn decline(
    framework_id: &v1::FrameworkId,
    offer_ids: Vec<v1::OfferId>,
    filters: Option<v1::Filters>,
) -> v1::SchedulerCall {
    v1::SchedulerCall {
        decline: Some(v1::CallDecline { offer_ids, filters }),
        ..call(framework_id, v1::SchedulerCallType::Decline)
    }
}

/// ACKNOWLEDGE one status update.
pub fn acknowledge(
    framework_id: &v1::FrameworkId,
    agent_id: v1::AgentId,
    task_id: v1::TaskId,
    uuid: Vec<u8>,
) -> v1::SchedulerCall {
    v1::SchedulerCall {
        acknowledge: Some(v1::CallAcknowledge {
            agent_id: Some(agent_id),
            task_id: Some(task_id),
            uuid,
        }),
        ..call(framework_id, v1::SchedulerCallType::Acknowledge)
    }
}

/// ACKNOWLEDGE for a received status, or `None` when the status needs no
/// acknowledgement (it has no uuid: reconciliation answers, master-generated
/// updates) or lacks the agent or task id to address it.
pub fn acknowledge_status(
    framework_id: &v1::FrameworkId,
    status: &v1::TaskStatus,
) -> Option<v1::SchedulerCall> {
    Some(acknowledge(
        framework_id,
        status.agent_id.clone()?,
        status.task_id.clone()?,
        status.uuid.clone()?,
    ))
}

/// KILL a task, optionally naming its agent.
pub fn kill(
    framework_id: &v1::FrameworkId,
    task_id: v1::TaskId,
    agent_id: Option<v1::AgentId>,
) -> v1::SchedulerCall {
    v1::SchedulerCall {
        kill: Some(v1::CallKill {
            task_id: Some(task_id),
            agent_id,
            kill_policy: None,
        }),
        ..call(framework_id, v1::SchedulerCallType::Kill)
    }
}

/// RECONCILE the given tasks; an empty list asks for every task the master
/// knows of the framework (implicit reconciliation).
pub fn reconcile(
    framework_id: &v1::FrameworkId,
    tasks: Vec<(v1::TaskId, Option<v1::AgentId>)>,
) -> v1::SchedulerCall {
    let tasks = tasks
        .into_iter()
        .map(|(task_id, agent_id)| v1::CallReconcileTask {
            task_id: Some(task_id),
            agent_id,
        })
        .collect();
    v1::SchedulerCall {
        reconcile: Some(v1::CallReconcile { tasks }),
        ..call(framework_id, v1::SchedulerCallType::Reconcile)
    }
}

/// REVIVE offers, for the given roles or (empty) for all of them.
pub fn revive(framework_id: &v1::FrameworkId, roles: Vec<String>) -> v1::SchedulerCall {
    v1::SchedulerCall {
        revive: (!roles.is_empty()).then_some(v1::CallRoles { roles }),
        ..call(framework_id, v1::SchedulerCallType::Revive)
    }
}

/// SUPPRESS offers, for the given roles or (empty) for all of them.
pub fn suppress(framework_id: &v1::FrameworkId, roles: Vec<String>) -> v1::SchedulerCall {
    v1::SchedulerCall {
        suppress: (!roles.is_empty()).then_some(v1::CallRoles { roles }),
        ..call(framework_id, v1::SchedulerCallType::Suppress)
    }
}

/// TEARDOWN the framework: kills its tasks and removes it.
pub fn teardown(framework_id: &v1::FrameworkId) -> v1::SchedulerCall {
    call(framework_id, v1::SchedulerCallType::Teardown)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(call: &v1::SchedulerCall) -> String {
        String::from_utf8(v1::Encoding::Json.encode(call)).unwrap()
    }

    #[test]
    fn calls_have_the_shape_pymesos_sends() {
        let f = v1::framework_id("F");
        let task = v1::TaskInfo {
            name: "t".into(),
            task_id: Some(v1::task_id("t1")),
            agent_id: Some(v1::agent_id("A")),
            ..Default::default()
        };
        assert_eq!(
            json(&accept_launch(
                &f,
                vec![v1::offer_id("O1")],
                vec![task],
                Some(refuse_seconds(1.0))
            )),
            r#"{"framework_id":{"value":"F"},"type":"ACCEPT","accept":{"offer_ids":[{"value":"O1"}],"operations":[{"type":"LAUNCH","launch":{"task_infos":[{"name":"t","task_id":{"value":"t1"},"agent_id":{"value":"A"}}]}}],"filters":{"refuse_seconds":1.0}}}"#
        );
        assert_eq!(
            json(&decline(&f, vec![v1::offer_id("O1")], None)),
            r#"{"framework_id":{"value":"F"},"type":"DECLINE","decline":{"offer_ids":[{"value":"O1"}]}}"#
        );
        assert_eq!(
            json(&kill(&f, v1::task_id("t1"), None)),
            r#"{"framework_id":{"value":"F"},"type":"KILL","kill":{"task_id":{"value":"t1"}}}"#
        );
        assert_eq!(
            json(&reconcile(&f, vec![])),
            r#"{"framework_id":{"value":"F"},"type":"RECONCILE","reconcile":{}}"#
        );
        assert_eq!(
            json(&revive(&f, vec![])),
            r#"{"framework_id":{"value":"F"},"type":"REVIVE"}"#
        );
        assert_eq!(
            json(&suppress(&f, vec!["web".into()])),
            r#"{"framework_id":{"value":"F"},"type":"SUPPRESS","suppress":{"roles":["web"]}}"#
        );
        assert_eq!(
            json(&teardown(&f)),
            r#"{"framework_id":{"value":"F"},"type":"TEARDOWN"}"#
        );
    }

    #[test]
    fn acknowledge_status_needs_a_uuid() {
        let f = v1::framework_id("F");
        let mut status = v1::TaskStatus {
            task_id: Some(v1::task_id("t1")),
            agent_id: Some(v1::agent_id("A")),
            ..Default::default()
        };
        assert!(acknowledge_status(&f, &status).is_none());
        status.uuid = Some(vec![7; 16]);
        let ack = acknowledge_status(&f, &status)
            .unwrap()
            .acknowledge
            .unwrap();
        assert_eq!(ack.uuid, vec![7; 16]);
        assert_eq!(ack.task_id, Some(v1::task_id("t1")));
    }
}

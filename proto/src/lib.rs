//! Strata's wire formats.
//!
//! * [`v1`]: the Mesos v1 public API (scheduler, executor and shared
//!   messages) as Rust structs that encode both as protobuf (Mesos's field
//!   numbers) and as Mesos-style JSON, so unmodified Mesos clients work.
//! * [`recordio`]: the framing of the v1 event streams.
//! * [`internal`]: the master<->agent tonic service and its messages.
//! * [`convert`]: conversions to and from `strata-api` domain types,
//!   including reservations (both of Mesos's resource formats) and
//!   persistent volumes.
//!
//! This crate depends only on `strata-api` among Strata's crates. It does no
//! I/O beyond what the generated tonic client and server carry.

pub mod convert;
pub mod internal;
pub mod recordio;
pub mod v1;

/// The Mesos API version Strata reports on `/version` and in `MasterInfo`.
/// Clients parse it as dotted integers, so it carries no suffix.
pub const MESOS_COMPAT_VERSION: &str = "1.11.0";

#[cfg(test)]
mod tests {
    use super::v1::*;
    use prost::Message as _;

    #[test]
    fn pymesos_subscribe_parses() {
        let body = br#"{"type": "SUBSCRIBE", "subscribe": {"framework_info": {"user": "root", "name": "acceptance",
 "hostname": "vm", "failover_timeout": 0.0, "capabilities": [{"type": "GPU_RESOURCES"}, {"type": "SOMETHING_NEW"}]}}}"#;
        let call: SchedulerCall = Encoding::Json.decode(body).unwrap();
        assert_eq!(call.r#type, Some(SchedulerCallType::Subscribe as i32));
        let fi = call.subscribe.unwrap().framework_info.unwrap();
        assert_eq!(fi.name, "acceptance");
        assert_eq!(
            fi.capabilities[0].r#type,
            Some(FrameworkCapabilityType::GpuResources as i32)
        );
        assert_eq!(fi.capabilities[1].r#type, Some(0));
    }

    #[test]
    fn status_json_has_mesos_shape_and_protobuf_round_trips() {
        let st = TaskStatus {
            task_id: Some(task_id("t1")),
            state: TaskState::TaskRunning as i32,
            source: Some(TaskStatusSource::SourceExecutor as i32),
            uuid: Some(vec![1; 16]),
            ..Default::default()
        };
        let json = String::from_utf8(Encoding::Json.encode(&st)).unwrap();
        assert_eq!(
            json,
            r#"{"task_id":{"value":"t1"},"state":"TASK_RUNNING","source":"SOURCE_EXECUTOR","uuid":"AQEBAQEBAQEBAQEBAQEBAQ=="}"#
        );
        let back = TaskStatus::decode(st.encode_to_vec().as_slice()).unwrap();
        assert_eq!(back, st);
        let back: TaskStatus = Encoding::Json.decode(json.as_bytes()).unwrap();
        assert_eq!(back, st);
    }

    #[test]
    fn unknown_task_state_name_is_an_error_that_names_it() {
        let e = Encoding::Json
            .decode::<TaskStatus>(br#"{"task_id":{"value":"t"},"state":"TASK_BOGUS"}"#)
            .unwrap_err();
        assert!(e.contains("TASK_BOGUS"), "{e}");
    }

    #[test]
    fn non_ascii_is_escaped() {
        let e = EventError {
            message: "héllo\n".into(),
        };
        let out = String::from_utf8(Encoding::Json.encode(&e)).unwrap();
        assert_eq!(out, r#"{"message":"h\u00e9llo\n"}"#);
    }
}

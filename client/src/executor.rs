//! The v1 executor API client: `POST /api/v1/executor` on the local agent.

use std::time::Duration;

use strata_proto::v1;

use crate::error::{Error, Result};
use crate::stream::ExecutorEventStream;
use crate::transport::{self, Http1, Peer};

const PATH: &str = "/api/v1/executor";

/// A client of the agent that launched this executor. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ExecutorClient {
    http: Http1,
    peer: Peer,
    framework_id: v1::FrameworkId,
    executor_id: v1::ExecutorId,
}

impl ExecutorClient {
    /// A client of the agent at `agent_endpoint` (`host:port`) for the given
    /// executor.
    pub fn new(
        agent_endpoint: &str,
        framework_id: v1::FrameworkId,
        executor_id: v1::ExecutorId,
    ) -> Result<Self> {
        let authority = transport::normalize_authority(agent_endpoint, None)?;
        Ok(Self {
            http: Http1::new(),
            peer: Peer {
                role: "agent",
                authority,
            },
            framework_id,
            executor_id,
        })
    }

    /// A client configured the way the agent launches executors: from
    /// `MESOS_AGENT_ENDPOINT`, `MESOS_FRAMEWORK_ID` and `MESOS_EXECUTOR_ID`,
    /// all required.
    pub fn from_env() -> Result<Self> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Like [`from_env`](Self::from_env), reading variables through `var`
    /// (so callers and tests need not touch the process environment). An
    /// empty value counts as missing.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let required = |name: &'static str| {
            var(name)
                .filter(|v| !v.is_empty())
                .ok_or(Error::MissingEnv(name))
        };
        let endpoint = required("MESOS_AGENT_ENDPOINT")?;
        let framework_id = v1::framework_id(&required("MESOS_FRAMEWORK_ID")?);
        let executor_id = v1::executor_id(&required("MESOS_EXECUTOR_ID")?);
        Self::new(&endpoint, framework_id, executor_id)
    }

    /// Changes how long a request waits for its answer (30 s by default).
    /// For SUBSCRIBE this bounds the wait for the response head only.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.http.set_timeout(timeout);
        self
    }

    /// The agent's `host:port`.
    pub fn agent_endpoint(&self) -> &str {
        &self.peer.authority
    }

    /// The framework this executor belongs to.
    pub fn framework_id(&self) -> &v1::FrameworkId {
        &self.framework_id
    }

    /// This executor's id.
    pub fn executor_id(&self) -> &v1::ExecutorId {
        &self.executor_id
    }

    /// Subscribes to the agent. When re-subscribing after a broken stream,
    /// `unacknowledged_tasks` are the launched tasks with no acknowledged
    /// terminal update and `unacknowledged_updates` the statuses still
    /// waiting for ACKNOWLEDGED, so the agent can recover them.
    pub async fn subscribe(
        &self,
        unacknowledged_tasks: Vec<v1::TaskInfo>,
        unacknowledged_updates: Vec<v1::TaskStatus>,
    ) -> Result<ExecutorEventStream> {
        let unacknowledged_updates = unacknowledged_updates
            .into_iter()
            .map(|status| v1::ExecutorCallUpdate {
                status: Some(status),
            })
            .collect();
        let call = v1::ExecutorCall {
            subscribe: Some(v1::ExecutorCallSubscribe {
                unacknowledged_tasks,
                unacknowledged_updates,
            }),
            ..self.call(v1::ExecutorCallType::Subscribe)
        };
        let request =
            transport::json_post(&self.peer.authority, PATH, v1::Encoding::Json.encode(&call))?;
        let response = self.http.stream(&self.peer, request).await?;
        Ok(ExecutorEventStream::new(
            self.peer.clone(),
            response.into_body(),
        ))
    }

    /// Sends a status update (UPDATE). The agent acknowledges it later with
    /// an ACKNOWLEDGED event carrying the same uuid.
    pub async fn update(&self, status: v1::TaskStatus) -> Result<()> {
        let call = v1::ExecutorCall {
            update: Some(v1::ExecutorCallUpdate {
                status: Some(status),
            }),
            ..self.call(v1::ExecutorCallType::Update)
        };
        self.send(call).await
    }

    /// Sends a framework message (MESSAGE) to the scheduler.
    pub async fn message(&self, data: Vec<u8>) -> Result<()> {
        let call = v1::ExecutorCall {
            message: Some(v1::ExecutorCallMessage { data }),
            ..self.call(v1::ExecutorCallType::Message)
        };
        self.send(call).await
    }

    fn call(&self, kind: v1::ExecutorCallType) -> v1::ExecutorCall {
        v1::ExecutorCall {
            executor_id: Some(self.executor_id.clone()),
            framework_id: Some(self.framework_id.clone()),
            r#type: Some(kind as i32),
            ..Default::default()
        }
    }

    async fn send(&self, call: v1::ExecutorCall) -> Result<()> {
        let request =
            transport::json_post(&self.peer.authority, PATH, v1::Encoding::Json.encode(&call))?;
        self.http.call(&self.peer, request).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn missing_variables_are_named() {
        let e = ExecutorClient::from_vars(vars(&[])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "missing environment variable MESOS_AGENT_ENDPOINT"
        );
        let e = ExecutorClient::from_vars(vars(&[
            ("MESOS_AGENT_ENDPOINT", "127.0.0.1:5051"),
            ("MESOS_FRAMEWORK_ID", "F"),
            ("MESOS_EXECUTOR_ID", ""),
        ]))
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "missing environment variable MESOS_EXECUTOR_ID"
        );
    }

    #[test]
    fn variables_configure_the_client() {
        let c = ExecutorClient::from_vars(vars(&[
            ("MESOS_AGENT_ENDPOINT", "127.0.0.1:5051"),
            ("MESOS_FRAMEWORK_ID", "F"),
            ("MESOS_EXECUTOR_ID", "E"),
        ]))
        .unwrap();
        assert_eq!(c.agent_endpoint(), "127.0.0.1:5051");
        assert_eq!(c.framework_id().value, "F");
        assert_eq!(c.executor_id().value, "E");
    }
}

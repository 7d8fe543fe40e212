//! The subscription loop: one framework's link to the master.
//!
//! [`Scheduler::start`] spawns a task that subscribes (with the saved framework id, if any),
//! hands every event to the framework through a channel, and when the stream ends, breaks or
//! stays silent for `missed_heartbeats` heartbeat intervals, reports
//! [`Event::Disconnected`] and subscribes again after an exponential backoff. The framework
//! id the master assigns is saved (when a [`FrameworkIdStore`] is given) before
//! [`Event::Subscribed`] is delivered, so a crash right after never loses it.
//!
//! The framework acts through the cloneable [`Scheduler`] handle. Calls made while no
//! subscription is open fail with [`Error::NotSubscribed`]: the framework re-derives what
//! to do from its own state after the next [`Event::Subscribed`] (it is a reconciler).

use std::sync::Arc;
use std::time::Duration;

use strata_client::{calls, v1, SchedulerClient, Subscription};
use tokio::sync::{mpsc, watch, RwLock};
use tracing::{debug, info, warn};

use crate::backoff::Backoff;
use crate::persist::FrameworkIdStore;
use crate::{Error, Result};

/// How a framework connects.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// The master: `host:port`, `host` or `http://host:port`.
    pub master: String,
    /// What the framework registers as (name, user, failover timeout, capabilities...).
    pub framework_info: v1::FrameworkInfo,
    /// The first re-subscription delay.
    pub min_backoff: Duration,
    /// The longest re-subscription delay.
    pub max_backoff: Duration,
    /// Heartbeat intervals without any event after which the master is presumed gone.
    pub missed_heartbeats: u32,
    /// How long one call (or the head of SUBSCRIBE) may take.
    pub request_timeout: Duration,
}

impl DriverConfig {
    /// Defaults: backoff 200 ms to 10 s, 5 missed heartbeats, 10 s per request.
    pub fn new(master: impl Into<String>, framework_info: v1::FrameworkInfo) -> Self {
        Self {
            master: master.into(),
            framework_info,
            min_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            missed_heartbeats: 5,
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// What the master told the framework, in order.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // status updates dominate; boxing them buys nothing
pub enum Event {
    /// A subscription is open (first or re-subscription). Reconcile now.
    Subscribed {
        /// The framework's id (saved already when a store was given).
        framework_id: v1::FrameworkId,
        /// How often the master sends heartbeats.
        heartbeat_interval: Option<Duration>,
        /// The master (`host:port`) that accepted the subscription.
        master: String,
    },
    /// New offers.
    Offers(Vec<v1::Offer>),
    /// An offer was withdrawn.
    Rescind(v1::OfferId),
    /// A task status update. Acknowledge it with [`Scheduler::acknowledge`] once it is
    /// processed (and persisted), or the agent resends it.
    Update(v1::TaskStatus),
    /// An executor exited or an agent was lost.
    Failure {
        /// The agent concerned.
        agent_id: Option<v1::AgentId>,
        /// The executor that exited, when it is an executor failure.
        executor_id: Option<v1::ExecutorId>,
        /// The executor's exit status.
        status: Option<i32>,
    },
    /// A message from an executor.
    Message {
        /// The executor's agent.
        agent_id: Option<v1::AgentId>,
        /// The executor.
        executor_id: Option<v1::ExecutorId>,
        /// The payload.
        data: Vec<u8>,
    },
    /// The master reported an error on the stream (for example the framework was removed).
    Error(String),
    /// The subscription was lost; the driver is re-subscribing.
    Disconnected {
        /// Why it was lost.
        reason: String,
    },
}

#[derive(Debug, Clone)]
struct Session {
    stream_id: String,
    framework_id: v1::FrameworkId,
}

#[derive(Debug)]
struct Shared {
    session: RwLock<Option<Session>>,
    stop: watch::Sender<bool>,
    /// Set once the loop has ended (and released the framework-id store).
    done: watch::Sender<bool>,
}

/// The framework's handle on its subscription: sends calls. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Scheduler {
    client: SchedulerClient,
    shared: Arc<Shared>,
}

enum Ended {
    /// The stream ended for this reason; subscribe again.
    Retry(String),
    /// Stop the driver.
    Stop,
}

impl Scheduler {
    /// Starts the subscription loop. Events arrive on the returned channel; the loop ends
    /// when [`Scheduler::stop`] is called or the receiver is dropped.
    pub async fn start(
        config: DriverConfig,
        ids: Option<FrameworkIdStore>,
    ) -> Result<(Scheduler, mpsc::UnboundedReceiver<Event>)> {
        let client =
            SchedulerClient::new(&config.master)?.with_request_timeout(config.request_timeout);
        let framework_id = match &ids {
            Some(ids) => ids.load().await?,
            None => config.framework_info.id.clone(),
        };
        let (stop, stop_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            session: RwLock::new(None),
            stop,
            done: watch::channel(false).0,
        });
        let (tx, rx) = mpsc::unbounded_channel();
        let scheduler = Scheduler {
            client: client.clone(),
            shared: shared.clone(),
        };
        let driver = Driver {
            client,
            config,
            ids,
            shared,
            tx,
            stop: stop_rx,
            framework_id,
        };
        tokio::spawn(driver.run());
        Ok((scheduler, rx))
    }

    /// Stops the subscription loop. The framework stays registered with the master (its
    /// tasks keep running for its failover timeout); nothing is torn down.
    pub fn stop(&self) {
        let _ = self.shared.stop.send(true);
    }

    /// Waits until the loop has ended after [`Scheduler::stop`] (the framework-id store
    /// is released by then).
    pub async fn stopped(&self) {
        let mut done = self.shared.done.subscribe();
        let _ = done.wait_for(|d| *d).await;
    }

    /// The framework id of the open subscription.
    pub async fn framework_id(&self) -> Option<v1::FrameworkId> {
        self.shared
            .session
            .read()
            .await
            .as_ref()
            .map(|s| s.framework_id.clone())
    }

    /// Whether a subscription is open.
    pub async fn is_subscribed(&self) -> bool {
        self.shared.session.read().await.is_some()
    }

    async fn session(&self) -> Result<Session> {
        self.shared
            .session
            .read()
            .await
            .clone()
            .ok_or(Error::NotSubscribed)
    }

    /// Sends any call built for the current framework id.
    pub async fn call(
        &self,
        build: impl FnOnce(&v1::FrameworkId) -> v1::SchedulerCall,
    ) -> Result<()> {
        let session = self.session().await?;
        let call = build(&session.framework_id);
        self.client.call(&session.stream_id, call).await?;
        Ok(())
    }

    /// ACCEPT `offer_ids` launching `tasks`; what is left is declined for `refuse`.
    pub async fn launch(
        &self,
        offer_ids: Vec<v1::OfferId>,
        tasks: Vec<v1::TaskInfo>,
        refuse: Option<Duration>,
    ) -> Result<()> {
        let filters = refuse.map(|d| calls::refuse_seconds(d.as_secs_f64()));
        self.call(|f| calls::accept_launch(f, offer_ids, tasks, filters))
            .await
    }

    /// DECLINE `offer_ids`, keeping them away for `refuse`.
    pub async fn decline(
        &self,
        offer_ids: Vec<v1::OfferId>,
        refuse: Option<Duration>,
    ) -> Result<()> {
        let filters = refuse.map(|d| calls::refuse_seconds(d.as_secs_f64()));
        self.call(|f| calls::decline(f, offer_ids, filters)).await
    }

    /// KILL a task, with a grace period between SIGTERM and SIGKILL when given.
    pub async fn kill(
        &self,
        task_id: v1::TaskId,
        agent_id: Option<v1::AgentId>,
        grace: Option<Duration>,
    ) -> Result<()> {
        self.call(|f| {
            let mut call = calls::kill(f, task_id, agent_id);
            if let (Some(kill), Some(grace)) = (call.kill.as_mut(), grace) {
                kill.kill_policy = Some(v1::KillPolicy {
                    grace_period: Some(v1::DurationInfo {
                        nanoseconds: grace.as_nanos().min(i64::MAX as u128) as i64,
                    }),
                });
            }
            call
        })
        .await
    }

    /// RECONCILE the given tasks (explicit), or all of them when the list is empty (implicit).
    pub async fn reconcile(&self, tasks: Vec<(v1::TaskId, Option<v1::AgentId>)>) -> Result<()> {
        self.call(|f| calls::reconcile(f, tasks)).await
    }

    /// ACKNOWLEDGE a status update; statuses that need none (no uuid) are skipped.
    pub async fn acknowledge(&self, status: &v1::TaskStatus) -> Result<()> {
        let session = self.session().await?;
        match calls::acknowledge_status(&session.framework_id, status) {
            Some(call) => Ok(self.client.call(&session.stream_id, call).await?),
            None => Ok(()),
        }
    }

    /// REVIVE offers (clears the framework's offer filters).
    pub async fn revive(&self) -> Result<()> {
        self.call(|f| calls::revive(f, Vec::new())).await
    }

    /// SUPPRESS offers until the next REVIVE.
    pub async fn suppress(&self) -> Result<()> {
        self.call(|f| calls::suppress(f, Vec::new())).await
    }
}

// === the loop ===

struct Driver {
    client: SchedulerClient,
    config: DriverConfig,
    ids: Option<FrameworkIdStore>,
    shared: Arc<Shared>,
    tx: mpsc::UnboundedSender<Event>,
    stop: watch::Receiver<bool>,
    framework_id: Option<v1::FrameworkId>,
}

impl Driver {
    async fn run(mut self) {
        let mut backoff = Backoff::new(self.config.min_backoff, 2.0, self.config.max_backoff);
        loop {
            if *self.stop.borrow() {
                break;
            }
            let mut info = self.config.framework_info.clone();
            info.id = self.framework_id.clone();
            let attempt = self.client.subscribe(info, self.framework_id.clone());
            let result = tokio::select! {
                r = attempt => r,
                _ = self.stop.changed() => break,
            };
            match result {
                Ok(subscription) => {
                    let ended = self.serve(subscription, &mut backoff).await;
                    *self.shared.session.write().await = None;
                    match ended {
                        Ended::Stop => break,
                        Ended::Retry(reason) => {
                            warn!(%reason, "lost the subscription to the master; re-subscribing");
                            if self.tx.send(Event::Disconnected { reason }).is_err() {
                                break;
                            }
                        }
                    }
                }
                Err(e) => {
                    warn!(master = %self.config.master, error = %e, "cannot subscribe to the master")
                }
            }
            let delay = backoff.next_delay();
            debug!(
                delay_ms = delay.as_millis() as u64,
                "re-subscribing after backoff"
            );
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = self.stop.changed() => break,
            }
        }
        *self.shared.session.write().await = None;
        self.ids = None;
        self.shared.done.send_replace(true);
        info!("framework driver stopped");
    }

    async fn serve(&mut self, mut sub: Subscription, backoff: &mut Backoff) -> Ended {
        // Until SUBSCRIBED says otherwise, Mesos's default heartbeat interval (15 s).
        let mut heartbeat = Duration::from_secs(15);
        loop {
            let silence = heartbeat * self.config.missed_heartbeats.max(1);
            let next = tokio::select! {
                next = tokio::time::timeout(silence, sub.events.next_event()) => next,
                _ = self.stop.changed() => return Ended::Stop,
            };
            let event = match next {
                Err(_) => {
                    return Ended::Retry(format!(
                        "no event from the master for {}s",
                        silence.as_secs()
                    ))
                }
                Ok(None) => return Ended::Retry("the master closed the event stream".into()),
                Ok(Some(Err(e))) => {
                    warn!(error = %e, "bad event from the master");
                    continue;
                }
                Ok(Some(Ok(event))) => event,
            };
            use v1::SchedulerEventType as T;
            let kind = event
                .r#type
                .and_then(|t| T::try_from(t).ok())
                .unwrap_or(T::Unknown);
            let out = match kind {
                T::Subscribed => {
                    let s = event.subscribed.unwrap_or_default();
                    let Some(framework_id) = s.framework_id else {
                        return Ended::Retry("SUBSCRIBED without a framework id".into());
                    };
                    if let Some(h) = s
                        .heartbeat_interval_seconds
                        .filter(|h| h.is_finite() && *h > 0.0)
                    {
                        heartbeat = Duration::from_secs_f64(h);
                    }
                    if self.framework_id.as_ref() != Some(&framework_id) {
                        if let Some(ids) = &self.ids {
                            if let Err(e) = ids.save(&framework_id).await {
                                // Without the id saved, a restart would orphan the tasks.
                                return Ended::Retry(format!("cannot save the framework id: {e}"));
                            }
                        }
                    }
                    self.framework_id = Some(framework_id.clone());
                    *self.shared.session.write().await = Some(Session {
                        stream_id: sub.stream_id.clone(),
                        framework_id: framework_id.clone(),
                    });
                    backoff.reset();
                    info!(framework_id = %framework_id.value, master = %sub.master, "subscribed");
                    Event::Subscribed {
                        framework_id,
                        heartbeat_interval: Some(heartbeat),
                        master: sub.master.clone(),
                    }
                }
                T::Offers => Event::Offers(event.offers.map(|o| o.offers).unwrap_or_default()),
                T::Rescind => match event.rescind.and_then(|r| r.offer_id) {
                    Some(id) => Event::Rescind(id),
                    None => continue,
                },
                T::Update => match event.update.and_then(|u| u.status) {
                    Some(status) => Event::Update(status),
                    None => continue,
                },
                T::Failure => {
                    let f = event.failure.unwrap_or_default();
                    Event::Failure {
                        agent_id: f.agent_id,
                        executor_id: f.executor_id,
                        status: f.status,
                    }
                }
                T::Message => {
                    let m = event.message.unwrap_or_default();
                    Event::Message {
                        agent_id: m.agent_id,
                        executor_id: m.executor_id,
                        data: m.data,
                    }
                }
                T::Error => {
                    let message = event.error.map(|e| e.message).unwrap_or_default();
                    warn!(%message, "the master reported an error");
                    let _ = self.tx.send(Event::Error(message.clone()));
                    if message.contains("removed") {
                        // The master will never take this id again: register anew.
                        self.framework_id = None;
                        if let Some(ids) = &self.ids {
                            if let Err(e) = ids.clear().await {
                                warn!(error = %e, "cannot forget the removed framework id");
                            }
                        }
                        return Ended::Retry(message);
                    }
                    if message.contains("failed over") {
                        // Another instance of this framework took over the id.
                        return Ended::Stop;
                    }
                    return Ended::Retry(message);
                }
                T::Heartbeat
                | T::InverseOffers
                | T::RescindInverseOffer
                | T::UpdateOperationStatus
                | T::Unknown => continue,
            };
            if self.tx.send(out).is_err() {
                return Ended::Stop;
            }
        }
    }
}

//! `strata bench launch`: launches N short tasks through a running cluster
//! with a Rust framework (over the public scheduler API) and reports tasks/s
//! next to this machine's raw process spawn rate measured in the same run.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use strata_client::{calls, v1, SchedulerClient};

/// Benchmarks.
#[derive(Subcommand)]
pub enum BenchCommand {
    /// Launch N `true` tasks end to end and compare with raw spawn+wait.
    Launch(LaunchArgs),
    /// Launch N `sleep` tasks, report when all run, hold them, then tear down
    /// (for memory measurements).
    Hold(HoldArgs),
    /// Simulate many agents on the master's real agent link (nothing runs).
    SimAgents(crate::sim_agents::SimAgentsArgs),
}

/// Options of `strata bench hold`.
#[derive(Args)]
pub struct HoldArgs {
    /// The master, as host:port.
    #[arg(long, default_value = "127.0.0.1:5050")]
    master: String,
    /// How many tasks to run.
    #[arg(long, default_value_t = 100)]
    tasks: usize,
    /// How long to hold them once all are running.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// cpus per task.
    #[arg(long, default_value_t = 0.01)]
    cpus: f64,
    /// mem (MB) per task.
    #[arg(long, default_value_t = 4.0)]
    mem: f64,
}

/// Options of `strata bench launch`.
#[derive(Args)]
pub struct LaunchArgs {
    /// The master, as host:port.
    #[arg(long, default_value = "127.0.0.1:5050")]
    master: String,
    /// How many tasks to launch.
    #[arg(long, default_value_t = 2000)]
    tasks: usize,
    /// cpus per task (small, so that many run at once).
    #[arg(long, default_value_t = 0.01)]
    cpus: f64,
    /// mem (MB) per task.
    #[arg(long, default_value_t = 4.0)]
    mem: f64,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout: u64,
    /// Run each task as a Docker container of this image (e.g.
    /// strata-test/busybox:latest) instead of a command task.
    #[arg(long)]
    image: Option<String>,
}

fn scalar(name: &str, value: f64) -> v1::Resource {
    v1::Resource {
        name: name.into(),
        r#type: v1::ValueType::Scalar as i32,
        scalar: Some(v1::ValueScalar { value }),
        ..Default::default()
    }
}

/// A command task running `argv` (no shell) with `cpus` and `mem`, on the
/// offer's agent.
fn command_task(id: &str, offer: &v1::Offer, cpus: f64, mem: f64, argv: &[&str]) -> v1::TaskInfo {
    v1::TaskInfo {
        name: id.to_owned(),
        task_id: Some(v1::task_id(id)),
        agent_id: offer.agent_id.clone(),
        resources: vec![scalar("cpus", cpus), scalar("mem", mem)],
        command: Some(v1::CommandInfo {
            value: Some(argv[0].to_owned()),
            arguments: argv.iter().map(|a| (*a).to_owned()).collect(),
            shell: Some(false),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Packs as many tasks of `cpus` and `mem` into `offer` as it holds, up to
/// `total` tasks in all; `make(n)` builds task number `n`.
fn pack(
    offer: &v1::Offer,
    cpus: f64,
    mem: f64,
    next: &mut usize,
    total: usize,
    mut make: impl FnMut(usize) -> v1::TaskInfo,
) -> Result<Vec<v1::TaskInfo>> {
    let res = strata_proto::convert::resources_from_wire(&offer.resources)?;
    let (mut free_cpus, mut free_mem) = (res.cpus(), res.mem());
    let mut batch = Vec::new();
    while *next < total && free_cpus >= cpus - 1e-9 && free_mem >= mem - 1e-9 {
        free_cpus -= cpus;
        free_mem -= mem;
        batch.push(make(*next));
        *next += 1;
    }
    Ok(batch)
}

/// Spawns and waits for `true` `n` times in a loop: the machine's raw rate.
fn raw_spawn_rate(n: usize) -> Result<f64> {
    let start = Instant::now();
    for _ in 0..n {
        let status = std::process::Command::new("true")
            .status()
            .context("spawning true")?;
        if !status.success() {
            bail!("true failed");
        }
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

/// Runs the chosen benchmark.
pub async fn run(cmd: BenchCommand) -> Result<()> {
    match cmd {
        BenchCommand::Launch(args) => launch(args).await,
        BenchCommand::Hold(args) => hold(args).await,
        BenchCommand::SimAgents(args) => crate::sim_agents::run(args).await,
    }
}

async fn launch(args: LaunchArgs) -> Result<()> {
    let raw = tokio::task::spawn_blocking({
        let n = args.tasks;
        move || raw_spawn_rate(n)
    })
    .await??;
    println!(
        "raw spawn+wait of `true`: {raw:.0} processes/s ({} in a loop)",
        args.tasks
    );

    let client = SchedulerClient::new(&args.master)?;
    let info = v1::FrameworkInfo {
        user: "root".into(),
        name: "strata-bench".into(),
        failover_timeout: Some(0.0),
        ..Default::default()
    };
    let mut sub = client.subscribe(info, None).await.context("subscribing")?;
    let stream_id = sub.stream_id.clone();
    let mut framework_id: Option<v1::FrameworkId> = None;
    let mut next = 0usize;
    let mut finished = HashSet::new();
    let mut failed = 0usize;
    let mut started: Option<Instant> = None;
    let mut launched_at: std::collections::HashMap<String, Instant> = Default::default();
    let mut to_running: Vec<f64> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(args.timeout);
    while finished.len() + failed < args.tasks {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            bail!(
                "timed out with {} of {} tasks finished",
                finished.len(),
                args.tasks
            );
        }
        let ev = match tokio::time::timeout(left, sub.events.next_event()).await {
            Ok(Some(ev)) => ev?,
            Ok(None) => bail!("the master closed the event stream"),
            Err(_) => continue,
        };
        use v1::SchedulerEventType as E;
        match E::try_from(ev.r#type.unwrap_or(0)).unwrap_or(E::Unknown) {
            E::Subscribed => framework_id = ev.subscribed.and_then(|s| s.framework_id),
            E::Offers => {
                let Some(fid) = framework_id.clone() else {
                    continue;
                };
                for offer in ev.offers.map(|o| o.offers).unwrap_or_default() {
                    let batch = pack(&offer, args.cpus, args.mem, &mut next, args.tasks, |n| {
                        let mut task = command_task(
                            &format!("bench-{n}"),
                            &offer,
                            args.cpus,
                            args.mem,
                            &["true"],
                        );
                        task.container = args.image.as_ref().map(|image| v1::ContainerInfo {
                            r#type: v1::ContainerType::Docker as i32,
                            docker: Some(v1::DockerInfo {
                                image: image.clone(),
                                network: Some(v1::DockerNetwork::None as i32),
                                ..Default::default()
                            }),
                            ..Default::default()
                        });
                        launched_at.insert(format!("bench-{n}"), Instant::now());
                        task
                    })?;
                    let oid = offer.id.clone().into_iter().collect();
                    let call = if batch.is_empty() {
                        calls::decline(&fid, oid, Some(calls::refuse_seconds(1.0)))
                    } else {
                        started.get_or_insert_with(Instant::now);
                        calls::accept_launch(&fid, oid, batch, Some(calls::refuse_seconds(0.0)))
                    };
                    client.call(&stream_id, call).await?;
                }
            }
            E::Update => {
                let Some(status) = ev.update.and_then(|u| u.status) else {
                    continue;
                };
                let Some(fid) = framework_id.as_ref() else {
                    continue;
                };
                if let Some(call) = calls::acknowledge_status(fid, &status) {
                    client.call(&stream_id, call).await?;
                }
                let id = status.task_id.map(|t| t.value).unwrap_or_default();
                if status.state == v1::TaskState::TaskRunning as i32 {
                    if let Some(t) = launched_at.get(&id) {
                        to_running.push(t.elapsed().as_secs_f64() * 1000.0);
                    }
                }
                match status.state {
                    s if s == v1::TaskState::TaskFinished as i32 => {
                        finished.insert(id);
                    }
                    s if s == v1::TaskState::TaskFailed as i32
                        || s == v1::TaskState::TaskError as i32
                        || s == v1::TaskState::TaskLost as i32
                        || s == v1::TaskState::TaskDropped as i32 =>
                    {
                        failed += 1;
                        eprintln!(
                            "task {id} ended {}: {}",
                            status.state,
                            status.message.unwrap_or_default()
                        );
                    }
                    _ => {}
                }
            }
            E::Error => bail!(
                "master error: {}",
                ev.error.map(|e| e.message).unwrap_or_default()
            ),
            _ => {}
        }
    }
    let elapsed = started.map(|s| s.elapsed()).unwrap_or_default();
    let rate = finished.len() as f64 / elapsed.as_secs_f64();
    if let Some(fid) = framework_id {
        let _ = client.call(&stream_id, calls::teardown(&fid)).await;
    }
    println!(
        "end-to-end: {} tasks finished ({} failed) in {:.2}s = {rate:.0} tasks/s",
        finished.len(),
        failed,
        elapsed.as_secs_f64()
    );
    println!("ratio end-to-end / raw spawn: {:.3}", rate / raw);
    if !to_running.is_empty() {
        to_running.sort_by(f64::total_cmp);
        let pct = |p: f64| to_running[((to_running.len() - 1) as f64 * p).round() as usize];
        println!(
            "launch (ACCEPT sent) to TASK_RUNNING: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms over {} tasks",
            pct(0.5),
            pct(0.99),
            to_running[to_running.len() - 1],
            to_running.len()
        );
    }
    if failed > 0 {
        bail!("{failed} tasks did not finish");
    }
    Ok(())
}

async fn hold(args: HoldArgs) -> Result<()> {
    let client = SchedulerClient::new(&args.master)?;
    let info = v1::FrameworkInfo {
        user: "root".into(),
        name: "strata-bench-hold".into(),
        // Long enough to outlive a master failover during a benchmark.
        failover_timeout: Some(600.0),
        ..Default::default()
    };
    let mut sub = client.subscribe(info, None).await.context("subscribing")?;
    let stream_id = sub.stream_id.clone();
    let mut framework_id: Option<v1::FrameworkId> = None;
    let mut next = 0usize;
    let mut running = HashSet::new();
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut reported = false;
    let mut hold_until: Option<Instant> = None;
    loop {
        if let Some(t) = hold_until {
            if Instant::now() >= t {
                break;
            }
        }
        if Instant::now() > deadline && !reported {
            bail!(
                "only {} of {} tasks running after 600s",
                running.len(),
                args.tasks
            );
        }
        let ev =
            match tokio::time::timeout(Duration::from_millis(500), sub.events.next_event()).await {
                Ok(Some(ev)) => ev?,
                Ok(None) => bail!("the master closed the event stream"),
                Err(_) => continue,
            };
        use v1::SchedulerEventType as E;
        match E::try_from(ev.r#type.unwrap_or(0)).unwrap_or(E::Unknown) {
            E::Subscribed => framework_id = ev.subscribed.and_then(|s| s.framework_id),
            E::Offers => {
                let Some(fid) = framework_id.clone() else {
                    continue;
                };
                for offer in ev.offers.map(|o| o.offers).unwrap_or_default() {
                    let batch = pack(&offer, args.cpus, args.mem, &mut next, args.tasks, |n| {
                        command_task(
                            &format!("hold-{n}"),
                            &offer,
                            args.cpus,
                            args.mem,
                            &["sleep", "3600"],
                        )
                    })?;
                    let oid = offer.id.clone().into_iter().collect();
                    let call = if batch.is_empty() {
                        calls::decline(&fid, oid, Some(calls::refuse_seconds(3600.0)))
                    } else {
                        calls::accept_launch(&fid, oid, batch, Some(calls::refuse_seconds(0.0)))
                    };
                    client.call(&stream_id, call).await?;
                }
            }
            E::Update => {
                let Some(status) = ev.update.and_then(|u| u.status) else {
                    continue;
                };
                let Some(fid) = framework_id.as_ref() else {
                    continue;
                };
                if let Some(call) = calls::acknowledge_status(fid, &status) {
                    client.call(&stream_id, call).await?;
                }
                if status.state == v1::TaskState::TaskRunning as i32 {
                    running.insert(status.task_id.map(|t| t.value).unwrap_or_default());
                } else if status.state != v1::TaskState::TaskStarting as i32 {
                    bail!(
                        "task ended early: {:?} {}",
                        status.task_id,
                        status.message.unwrap_or_default()
                    );
                }
                if running.len() == args.tasks && !reported {
                    reported = true;
                    println!("RUNNING {}", args.tasks);
                    use std::io::Write as _;
                    std::io::stdout().flush()?;
                    hold_until = Some(Instant::now() + Duration::from_secs(args.seconds));
                }
            }
            _ => {}
        }
    }
    if let Some(fid) = framework_id {
        client.call(&stream_id, calls::teardown(&fid)).await?;
    }
    println!("TORN DOWN");
    Ok(())
}

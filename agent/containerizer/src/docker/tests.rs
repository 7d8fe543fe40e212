//! Tests of the Docker containerizer against the real engine, with the images
//! that `scripts/build-test-images.sh` builds locally (it runs once per test
//! process; nothing is pulled). Where no engine answers, the tests that need
//! one print `SKIPPED: no Docker engine: <reason>` and pass, except under
//! `CI=true`, where they fail.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use super::*;

// === Helpers ===

const IMAGE: &str = "strata-test/busybox:latest";
const INDEX: &str = include_str!("../../../../tests/images/busybox/www/index.html");

fn unique(name: &str) -> String {
    format!("test-{}-{name}", std::process::id())
}

/// True under CI (`CI` set to `true` or `1`), where a missing engine fails
/// the tests instead of skipping them.
fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// A containerizer, or `None` after announcing the skip loudly: on stderr
/// and stdout, and as a marker file under `<target>/strata-tests-skipped/`
/// that `scripts/test.sh` lists in its summary.
async fn docker_or_skip(test: &str) -> Option<DockerContainerizer> {
    match DockerContainerizer::connect(DockerConfig::default()).await {
        Ok(docker) => {
            eprintln!("engine: {}", docker.describe());
            ensure_images();
            Some(docker)
        }
        Err(e) if on_ci() => panic!("no Docker engine, and CI=true requires one: {test}: {e}"),
        Err(e) => {
            eprintln!("SKIPPED: no Docker engine: {test}: {e}");
            println!("SKIPPED: no Docker engine: {test}: {e}");
            let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map_or_else(|| workspace.join("target"), |dir| workspace.join(dir));
            let dir = target.join("strata-tests-skipped");
            if std::fs::create_dir_all(&dir).is_ok() {
                let _ = std::fs::write(
                    dir.join(format!("containerizer_docker_{test}")),
                    format!("containerizer docker::{test}: no Docker engine: {e}\n"),
                );
            }
            None
        }
    }
}

/// Runs the image build script once per test process (it skips images that
/// are up to date).
fn ensure_images() {
    static BUILT: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/build-test-images.sh");
        let output = std::process::Command::new("bash")
            .arg(&script)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        eprint!("{}", String::from_utf8_lossy(&output.stdout));
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{} failed ({}): {}",
                script.display(),
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    });
    if let Err(e) = built {
        panic!("the test images are missing: {e}\nrun scripts/build-test-images.sh");
    }
}

/// Removes a test's container and sandbox even when the test fails half-way
/// (`Drop` cannot await, so this uses the docker command).
struct Cleanup {
    name: String,
    dirs: Vec<PathBuf>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker")
            .args(["rm", "--force", "--volumes", &self.name])
            .output();
        for dir in &self.dirs {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn spec(name: &str, command: Option<&[&str]>) -> (DockerLaunchSpec, Cleanup) {
    let container_id = unique(name);
    let sandbox = std::env::temp_dir().join(format!("strata-docker-{container_id}"));
    let _ = std::fs::remove_dir_all(&sandbox);
    let cleanup = Cleanup {
        name: format!("{NAME_PREFIX}{container_id}"),
        dirs: vec![sandbox.clone()],
    };
    // A container left by an earlier run with the same pid would clash.
    let _ = std::process::Command::new("docker")
        .args(["rm", "--force", &cleanup.name])
        .output();
    let spec = DockerLaunchSpec {
        container_id,
        sandbox,
        image: IMAGE.to_string(),
        force_pull: false,
        command: command.map(|c| c.iter().map(|s| s.to_string()).collect()),
        env: Vec::new(),
        network: DockerNetwork::Bridge,
        port_mappings: Vec::new(),
        volumes: Vec::new(),
        labels: Vec::new(),
        privileged: false,
        limits: Limits {
            cpus: 0.5,
            mem_mb: 64.0,
        },
    };
    (spec, cleanup)
}

fn sh(name: &str, script: &str) -> (DockerLaunchSpec, Cleanup) {
    spec(name, Some(&["sh", "-c", script]))
}

async fn wait(docker: &DockerContainerizer, container: &DockerContainer) -> Termination {
    tokio::time::timeout(Duration::from_secs(60), docker.wait(container))
        .await
        .expect("the container did not exit within 60s")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// One plain HTTP/1.0 GET of `/` on 127.0.0.1:`port`: the whole response.
fn http_get(port: u16) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

/// GETs `/` until it answers 200 (the server needs a moment to start, and
/// Docker's port proxy accepts connections before it does).
async fn get_until_ok(port: u16) -> String {
    let mut last = String::new();
    for _ in 0..100 {
        let response = tokio::task::spawn_blocking(move || http_get(port))
            .await
            .expect("the GET task");
        match response {
            Ok(r) if r.starts_with("HTTP/1.") && r.contains(" 200 ") => return r,
            Ok(r) => last = format!("answer {r:?}"),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("no HTTP 200 from 127.0.0.1:{port} within 20s; last: {last}");
}

/// Polls until `path` holds `text`.
async fn wait_for_text(path: &Path, text: &str) {
    for _ in 0..200 {
        if std::fs::read_to_string(path).is_ok_and(|s| s.contains(text)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{} never held {text:?}", path.display());
}

async fn is_gone(docker: &DockerContainerizer, docker_id: &str) -> bool {
    match docker.inner.docker.inspect_container(docker_id, None).await {
        Err(e) => is_not_found(&e),
        Ok(_) => false,
    }
}

// === Against the engine ===

#[tokio::test]
async fn bridge_httpd_answers_on_its_mapped_port_and_stop_destroy_removes_it() {
    let Some(docker) =
        docker_or_skip("bridge_httpd_answers_on_its_mapped_port_and_stop_destroy_removes_it").await
    else {
        return;
    };
    let port = free_port();
    let (mut spec, _cleanup) = spec("httpd", Some(&["httpd", "-f", "-p", "8080", "-h", "/www"]));
    spec.port_mappings = vec![PortMapping {
        host_port: port,
        container_port: 8080,
        protocol: "tcp".to_string(),
    }];
    let container = docker.launch(spec).await.expect("launch");
    assert_eq!(container.name, format!("strata-{}", container.id));
    assert!(container.pid.is_some(), "a running container has a pid");

    let response = get_until_ok(port).await;
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    assert_eq!(body, INDEX, "whole response: {response}");

    let usage = docker
        .usage(&container)
        .await
        .expect("usage of a running container");
    assert!(usage.mem_rss_bytes > 0, "{usage:?}");
    assert!(usage.cpu_seconds >= 0.0, "{usage:?}");

    docker
        .stop(&container, Duration::from_secs(2))
        .await
        .expect("stop");
    let termination = wait(&docker, &container).await;
    assert!(!termination.oom_killed, "{termination:?}");
    assert!(
        docker.usage(&container).await.is_none(),
        "no usage once stopped"
    );
    docker.destroy(&container).await.expect("destroy");
    assert!(
        is_gone(&docker, &container.docker_id).await,
        "inspect after destroy is 404"
    );
    docker
        .destroy(&container)
        .await
        .expect("destroy is idempotent");
    docker
        .stop(&container, Duration::from_secs(1))
        .await
        .expect("stopping a removed container is not an error");
}

#[tokio::test]
async fn exit_code_and_output_reach_the_sandbox() {
    let Some(docker) = docker_or_skip("exit_code_and_output_reach_the_sandbox").await else {
        return;
    };
    let (spec, _cleanup) = sh(
        "exit3",
        "echo out; echo err >&2; echo \"$MESOS_SANDBOX\" > /mnt/mesos/sandbox/marker; exit 3",
    );
    let container = docker.launch(spec).await.expect("launch");

    let termination = wait(&docker, &container).await;

    assert_eq!(
        termination,
        Termination {
            exit_code: Some(3),
            signal: None,
            oom_killed: false,
            message: "exited with status 3".to_string(),
        }
    );
    assert_eq!(read(&container.sandbox.join("stdout")), "out\n");
    assert_eq!(read(&container.sandbox.join("stderr")), "err\n");
    assert_eq!(
        read(&container.sandbox.join("marker")),
        "/mnt/mesos/sandbox\n"
    );
    // A second wait gives the same answer.
    assert_eq!(wait(&docker, &container).await, termination);
    docker.destroy(&container).await.expect("destroy");
}

#[tokio::test]
async fn exceeding_the_memory_limit_is_an_oom_kill() {
    let Some(docker) = docker_or_skip("exceeding_the_memory_limit_is_an_oom_kill").await else {
        return;
    };
    // The shell keeps the whole 100 MB substitution in memory.
    let (mut spec, _cleanup) = sh(
        "oom",
        "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo survived",
    );
    spec.limits = Limits {
        cpus: 0.0,
        mem_mb: 16.0,
    };
    let container = docker.launch(spec).await.expect("launch");

    let termination = wait(&docker, &container).await;

    assert!(termination.oom_killed, "{termination:?}");
    assert!(
        termination.message.contains("memory limit"),
        "{termination:?}"
    );
    assert!(!read(&container.sandbox.join("stdout")).contains("survived"));
    docker.destroy(&container).await.expect("destroy");
}

#[tokio::test]
async fn a_missing_image_that_cannot_be_pulled_is_an_image_pull_error() {
    let Some(docker) =
        docker_or_skip("a_missing_image_that_cannot_be_pulled_is_an_image_pull_error").await
    else {
        return;
    };
    let (mut spec, _cleanup) = sh("nope", "true");
    spec.image = "strata-test/nope:1".to_string();

    let result = tokio::time::timeout(Duration::from_secs(60), docker.launch(spec.clone()))
        .await
        .expect("the pull gave up within 60s");

    match result {
        Err(Error::ImagePull { image, message }) => {
            assert_eq!(image, "strata-test/nope:1");
            assert!(!message.is_empty());
            let text = Error::ImagePull { image, message }.to_string();
            assert!(text.contains("strata-test/nope:1"), "{text}");
            eprintln!("pull error: {text}");
        }
        other => panic!("expected an image pull error, got {other:?}"),
    }
    let name = format!("{NAME_PREFIX}{}", spec.container_id);
    assert!(is_gone(&docker, &name).await, "no container is left behind");
}

#[tokio::test]
async fn a_restarted_agent_lists_and_recovers_its_running_container() {
    let Some(docker) =
        docker_or_skip("a_restarted_agent_lists_and_recovers_its_running_container").await
    else {
        return;
    };
    let agent_id = unique("agent");
    let (mut spec, _cleanup) = sh(
        "recover",
        "trap 'echo stopping; exit 0' TERM; echo before; sleep 1000 & wait",
    );
    spec.labels = vec![
        (AGENT_ID_LABEL.to_string(), agent_id.clone()),
        ("strata.task_id".to_string(), "task-1".to_string()),
    ];
    let sandbox = spec.sandbox.clone();

    // The "old agent": a runtime of its own, dropped while the container runs,
    // which ends its log streaming and waiting as a killed agent's would.
    let old = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let docker = DockerContainerizer::connect(DockerConfig::default())
                .await
                .expect("connect");
            let container = docker.launch(spec).await.expect("launch");
            wait_for_text(&container.sandbox.join("stdout"), "before").await;
            container
        })
    })
    .join()
    .expect("the old agent's thread");

    let found = docker.list(&agent_id).await.expect("list");
    assert_eq!(found.len(), 1, "{found:?}");
    let rc = &found[0];
    assert!(rc.running);
    assert_eq!(rc.docker_id, old.docker_id);
    assert_eq!(rc.name, old.name);
    assert_eq!(rc.container_id(), Some(old.id.as_str()));
    assert_eq!(
        rc.labels.get("strata.task_id").map(String::as_str),
        Some("task-1")
    );
    assert!(docker
        .list("some-other-agent")
        .await
        .expect("list")
        .is_empty());

    let container = docker.recover(rc, sandbox.clone()).await.expect("recover");
    assert_eq!(container.id, old.id);
    assert_eq!(container.pid, old.pid);

    docker
        .stop(&container, Duration::from_secs(20))
        .await
        .expect("stop");
    let termination = tokio::time::timeout(Duration::from_secs(10), docker.wait(&container))
        .await
        .expect("SIGTERM ended it well before the grace period");
    assert_eq!(termination.exit_code, Some(0), "{termination:?}");
    // Output from before the restart is not written twice.
    assert_eq!(read(&sandbox.join("stdout")), "before\nstopping\n");

    docker.destroy(&container).await.expect("destroy");
    assert!(docker.list(&agent_id).await.expect("list").is_empty());
}

#[tokio::test]
async fn recovering_a_stopped_container_reports_its_exit() {
    let Some(docker) = docker_or_skip("recovering_a_stopped_container_reports_its_exit").await
    else {
        return;
    };
    let agent_id = unique("agent-stopped");
    let (mut spec, _cleanup) = sh("stopped", "echo done; exit 7");
    spec.labels = vec![(AGENT_ID_LABEL.to_string(), agent_id.clone())];
    let sandbox = spec.sandbox.clone();
    let container = docker.launch(spec).await.expect("launch");
    wait(&docker, &container).await;

    let found = docker.list(&agent_id).await.expect("list");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(!found[0].running);
    let recovered = docker
        .recover(&found[0], sandbox.clone())
        .await
        .expect("recover");
    let termination = wait(&docker, &recovered).await;
    assert_eq!(termination.exit_code, Some(7), "{termination:?}");
    assert_eq!(
        read(&sandbox.join("stdout")),
        "done\n",
        "nothing written twice"
    );
    docker.destroy(&recovered).await.expect("destroy");
}

#[tokio::test]
async fn orphans_are_removed() {
    let Some(docker) = docker_or_skip("orphans_are_removed").await else {
        return;
    };
    let agent_id = unique("agent-orphans");
    let (mut spec, _cleanup) = sh("orphan", "sleep 1000");
    spec.labels = vec![(AGENT_ID_LABEL.to_string(), agent_id.clone())];
    let container = docker.launch(spec).await.expect("launch");

    let found = docker.list(&agent_id).await.expect("list");
    assert_eq!(found.len(), 1, "{found:?}");
    docker
        .destroy_orphan(&found[0])
        .await
        .expect("destroy_orphan");
    assert!(docker.list(&agent_id).await.expect("list").is_empty());
    assert!(is_gone(&docker, &container.docker_id).await);
    docker
        .destroy_orphan(&found[0])
        .await
        .expect("destroy_orphan is idempotent");
}

#[tokio::test]
async fn host_network_and_volume_mounts() {
    let Some(docker) = docker_or_skip("host_network_and_volume_mounts").await else {
        return;
    };
    let port = free_port();
    let script = format!(
        "cat /data/hello.txt; \
         (echo x > /data/new) 2>/dev/null && echo data-writable || echo data-read-only; \
         echo written > /rw/out.txt; \
         exec httpd -f -p 127.0.0.1:{port} -h /www"
    );
    let (mut spec, mut cleanup) = sh("host", &script);
    let data = std::env::temp_dir().join(format!("strata-docker-{}-data", unique("host")));
    let rw = std::env::temp_dir().join(format!("strata-docker-{}-rw", unique("host")));
    cleanup.dirs.extend([data.clone(), rw.clone()]);
    std::fs::create_dir_all(&data).unwrap();
    std::fs::create_dir_all(&rw).unwrap();
    std::fs::write(data.join("hello.txt"), "hello from the host\n").unwrap();
    spec.network = DockerNetwork::Host;
    spec.volumes = vec![
        VolumeMount {
            host_path: data.clone(),
            container_path: "/data".to_string(),
            read_only: true,
        },
        VolumeMount {
            host_path: rw.clone(),
            container_path: "/rw".to_string(),
            read_only: false,
        },
    ];
    let container = docker.launch(spec).await.expect("launch");

    // Without port mappings, only the host's network reaches the server.
    let response = get_until_ok(port).await;
    assert!(response.ends_with(INDEX), "{response}");
    let stdout = container.sandbox.join("stdout");
    wait_for_text(&stdout, "data-").await;
    assert_eq!(read(&stdout), "hello from the host\ndata-read-only\n");
    assert_eq!(read(&rw.join("out.txt")), "written\n");
    assert!(!data.join("new").exists());

    docker
        .stop(&container, Duration::from_secs(1))
        .await
        .expect("stop");
    wait(&docker, &container).await;
    docker.destroy(&container).await.expect("destroy");
}

#[tokio::test]
async fn env_labels_and_the_image_default_command() {
    let Some(docker) = docker_or_skip("env_labels_and_the_image_default_command").await else {
        return;
    };
    let (mut spec, _cleanup) = spec("env", Some(&["env"]));
    spec.env = vec![("FOO".to_string(), "bar baz".to_string())];
    spec.network = DockerNetwork::None;
    spec.labels = vec![("strata.task_id".to_string(), "t1".to_string())];
    let container = docker.launch(spec).await.expect("launch");
    assert_eq!(wait(&docker, &container).await.exit_code, Some(0));
    let env = read(&container.sandbox.join("stdout"));
    assert!(env.lines().any(|l| l == "FOO=bar baz"), "{env}");
    assert!(
        env.lines().any(|l| l == "MESOS_SANDBOX=/mnt/mesos/sandbox"),
        "{env}"
    );

    let inspect = docker
        .inner
        .docker
        .inspect_container(&container.docker_id, None)
        .await
        .expect("inspect");
    let labels = inspect.config.and_then(|c| c.labels).unwrap_or_default();
    assert_eq!(labels.get("strata.task_id").map(String::as_str), Some("t1"));
    assert_eq!(labels.get(CONTAINER_ID_LABEL), Some(&container.id));
    let host = inspect.host_config.expect("host config");
    assert_eq!(host.memory, Some(64 * 1024 * 1024));
    assert_eq!(host.memory_swap, Some(64 * 1024 * 1024));
    assert_eq!(host.cpu_shares, Some(512));
    assert_eq!(host.cpu_quota, Some(50_000));
    assert_eq!(host.cpu_period, Some(100_000));
    assert_eq!(host.network_mode.as_deref(), Some("none"));
    assert_eq!(host.privileged, Some(false));
    docker.destroy(&container).await.expect("destroy");

    // No command: the image's CMD (`sh`, which exits at once on empty stdin).
    let (default_cmd, _cleanup) = self::spec("default-cmd", None);
    let container = docker.launch(default_cmd).await.expect("launch");
    assert_eq!(wait(&docker, &container).await.exit_code, Some(0));
    docker.destroy(&container).await.expect("destroy");
}

#[tokio::test]
async fn a_name_in_use_is_a_docker_error_naming_it() {
    let Some(docker) = docker_or_skip("a_name_in_use_is_a_docker_error_naming_it").await else {
        return;
    };
    let (spec, _cleanup) = sh("twice", "sleep 30");
    let first = docker.launch(spec.clone()).await.expect("launch");
    match docker.launch(spec).await {
        Err(Error::Docker(message)) => assert!(message.contains(&first.name), "{message}"),
        other => panic!("expected a docker error, got {other:?}"),
    }
    docker.destroy(&first).await.expect("destroy");
    // Destroying while it runs ends the wait too.
    let termination = wait(&docker, &first).await;
    assert_eq!(termination.signal, Some(9), "{termination:?}");
}

// === Without an engine ===

#[tokio::test]
async fn no_socket_is_docker_unavailable_naming_it() {
    let config = DockerConfig {
        socket: Some("unix:///nonexistent/docker.sock".to_string()),
    };
    match DockerContainerizer::connect(config).await {
        Err(Error::DockerUnavailable(reason)) => {
            assert!(reason.contains("/nonexistent/docker.sock"), "{reason}")
        }
        other => panic!("expected DockerUnavailable, got {other:?}"),
    }
    let config = DockerConfig {
        socket: Some("tcp://127.0.0.1:2375".to_string()),
    };
    match DockerContainerizer::connect(config).await {
        Err(Error::DockerUnavailable(reason)) => {
            assert!(reason.contains("not a unix socket"), "{reason}")
        }
        other => panic!("expected DockerUnavailable, got {other:?}"),
    }
}

#[test]
fn port_mappings_need_bridge_networking() {
    let (mut spec, _cleanup) = sh("ports-host", "true");
    spec.port_mappings = vec![PortMapping {
        host_port: 31000,
        container_port: 80,
        protocol: "tcp".to_string(),
    }];
    spec.network = DockerNetwork::Host;
    let e = create_body(&spec).expect_err("host networking with port mappings");
    assert_eq!(
        e.to_string(),
        "invalid docker launch: port mappings need BRIDGE networking, not HOST"
    );

    spec.network = DockerNetwork::Bridge;
    spec.port_mappings[0].protocol = "sctp".to_string();
    let e = create_body(&spec).expect_err("sctp");
    assert!(e.to_string().contains("\"sctp\""), "{e}");

    spec.port_mappings[0].protocol = "UDP".to_string();
    let body = create_body(&spec).expect("udp");
    assert_eq!(body.exposed_ports, Some(vec!["80/udp".to_string()]));
    let bindings = body
        .host_config
        .and_then(|h| h.port_bindings)
        .expect("bindings");
    let binding = &bindings["80/udp"].as_ref().expect("a binding")[0];
    assert_eq!(binding.host_port.as_deref(), Some("31000"));
}

#[test]
fn limits_translate_to_shares_quota_and_memory() {
    let (mut spec, _cleanup) = sh("limits", "true");
    let host = |spec: &DockerLaunchSpec| create_body(spec).unwrap().host_config.unwrap();

    spec.limits = Limits {
        cpus: 0.0,
        mem_mb: 0.0,
    };
    let h = host(&spec);
    assert_eq!(
        (h.cpu_shares, h.cpu_quota, h.memory, h.memory_swap),
        (None, None, None, None)
    );

    spec.limits = Limits {
        cpus: 2.0,
        mem_mb: 0.5,
    };
    let h = host(&spec);
    assert_eq!(h.cpu_shares, Some(2048));
    assert_eq!(h.cpu_quota, Some(200_000));
    assert_eq!(h.memory, Some(512 * 1024));

    spec.limits = Limits {
        cpus: 0.001,
        mem_mb: 1.0,
    };
    let h = host(&spec);
    assert_eq!(h.cpu_shares, Some(2), "the kernel's minimum");
    assert_eq!(h.cpu_quota, Some(1_000), "Docker's minimum");

    spec.limits.cpus = -1.0;
    let e = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(async {
            // launch validates before it talks to the engine, so a dangling
            // client is enough.
            let docker = Docker::connect_with_unix("/", 1, bollard::API_DEFAULT_VERSION).unwrap();
            let containerizer = DockerContainerizer {
                inner: Arc::new(Inner {
                    docker,
                    description: String::new(),
                }),
            };
            containerizer.launch(spec).await
        })
        .expect_err("negative cpus");
    assert!(matches!(e, Error::InvalidLimit { name: "cpus", .. }), "{e}");
}

#[test]
fn relative_volume_paths_are_refused() {
    let (mut spec, _cleanup) = sh("volumes", "true");
    spec.volumes = vec![VolumeMount {
        host_path: PathBuf::from("relative/dir"),
        container_path: "/data".to_string(),
        read_only: true,
    }];
    let e = create_body(&spec).expect_err("relative host path");
    assert!(e.to_string().contains("relative/dir"), "{e}");
    spec.volumes[0].host_path = PathBuf::from("/tmp");
    spec.volumes[0].container_path = "data".to_string();
    let e = create_body(&spec).expect_err("relative container path");
    assert!(e.to_string().contains("\"data\""), "{e}");
}

#[test]
fn image_references_split_into_name_and_tag() {
    assert_eq!(split_image("busybox"), ("busybox", Some("latest")));
    assert_eq!(
        split_image("strata-test/nope:1"),
        ("strata-test/nope", Some("1"))
    );
    assert_eq!(
        split_image("localhost:5000/app"),
        ("localhost:5000/app", Some("latest"))
    );
    assert_eq!(
        split_image("localhost:5000/app:v2"),
        ("localhost:5000/app", Some("v2"))
    );
    assert_eq!(split_image("app@sha256:abc"), ("app@sha256:abc", None));
}

#[test]
fn exit_codes_become_terminations() {
    assert_eq!(termination(0, false, None).message, "exited with status 0");
    let t = termination(137, false, None);
    assert_eq!((t.exit_code, t.signal), (None, Some(9)));
    assert_eq!(t.message, "killed by signal 9 (SIGKILL)");
    let t = termination(137, true, None);
    assert_eq!(t.message, "killed by signal 9 (memory limit exceeded)");
    assert!(t.oom_killed);
    let t = termination(1, true, None);
    assert_eq!(
        t.message,
        "exited with status 1 after a process in it was killed for exceeding the memory limit"
    );
    let t = termination(255, false, Some("oci runtime error"));
    assert_eq!(t.exit_code, Some(255));
    assert_eq!(t.message, "exited with status 255: oci runtime error");
}

#[test]
fn log_timestamps_parse() {
    let (time, rest) =
        split_timestamp(b"2024-02-29T23:59:58.123456789Z hello world\n").expect("a timestamp");
    assert_eq!(
        time,
        LogTime {
            secs: 1_709_251_198,
            nanos: 123_456_789
        }
    );
    assert_eq!(rest, b"hello world\n");
    assert_eq!(
        parse_rfc3339("1970-01-01T00:00:00Z"),
        Some(LogTime { secs: 0, nanos: 0 })
    );
    assert_eq!(
        parse_rfc3339("1970-01-01T01:00:00.5+01:00"),
        Some(LogTime {
            secs: 0,
            nanos: 500_000_000
        })
    );
    assert_eq!(parse_rfc3339("2024-13-01T00:00:00Z"), None);
    assert_eq!(parse_rfc3339("not a time at all!!!"), None);
    assert_eq!(split_timestamp(b"no-timestamp here"), None);
    // Round trip through a file's modification time.
    let t = LogTime {
        secs: 1_700_000_000,
        nanos: 1,
    };
    assert_eq!(LogTime::of(t.system_time().unwrap()), Some(t));
}

#[test]
fn log_files_skip_output_they_already_hold() {
    let dir = std::env::temp_dir().join(format!("strata-docker-{}", unique("logfile")));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let _cleanup = Cleanup {
        name: unique("logfile-none"),
        dirs: vec![dir.clone()],
    };
    let at = |secs, nanos| LogTime { secs, nanos };

    let mut files = LogFiles::open(&dir, Resume::FromStart).unwrap();
    assert_eq!(files.since(), 0);
    files.stdout.write(at(1_700_000_000, 5), b"one\n").unwrap();
    files.stdout.write(at(1_700_000_001, 7), b"two\n").unwrap();
    files.stderr.write(at(1_700_000_000, 9), b"err\n").unwrap();
    drop(files);

    let mut files = LogFiles::open(&dir, Resume::AfterWhatIsWritten).unwrap();
    assert_eq!(files.since(), 1_700_000_000, "the earlier file's second");
    // The engine repeats the whole second; only what is newer is written.
    files.stdout.write(at(1_700_000_000, 5), b"one\n").unwrap();
    files.stdout.write(at(1_700_000_001, 7), b"two\n").unwrap();
    files
        .stdout
        .write(at(1_700_000_001, 8), b"three\n")
        .unwrap();
    files.stderr.write(at(1_700_000_000, 9), b"err\n").unwrap();
    assert_eq!(read(&dir.join("stdout")), "one\ntwo\nthree\n");
    assert_eq!(read(&dir.join("stderr")), "err\n");

    // An empty file gets everything.
    std::fs::write(dir.join("stderr"), "").unwrap();
    let files = LogFiles::open(&dir, Resume::AfterWhatIsWritten).unwrap();
    assert_eq!(files.stderr.last, None);
    assert_eq!(files.since(), 0);
}

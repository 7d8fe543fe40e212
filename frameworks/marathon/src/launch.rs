//! Turning an app and a claim on an offer into a Mesos `TaskInfo`: the command, its
//! environment (`$PORT0`, `$PORTS`, `$HOST`, `MARATHON_APP_*`), fetch URIs, the container,
//! the Mesos health check and the kill policy.

use std::collections::BTreeMap;

use serde_json::Value;
use strata_client::v1;
use strata_frameworks_runtime::OfferView;

use crate::app::{AppDefinition, HealthCheckDef};

/// The task of `app` with id `task_id` on `view`'s agent, using `ports` and `resources`.
pub fn task_info(
    app: &AppDefinition,
    task_id: &str,
    view: &OfferView,
    ports: &[u64],
    resources: Vec<v1::Resource>,
) -> v1::TaskInfo {
    let env = environment(app, task_id, &view.hostname, ports);
    let uris = fetch_uris(app);
    let is_docker = app
        .container
        .as_ref()
        .and_then(|c| c.get("type"))
        .and_then(Value::as_str)
        == Some("DOCKER");
    let mut command = v1::CommandInfo {
        uris,
        environment: Some(v1::Environment {
            variables: env
                .into_iter()
                .map(|(name, value)| v1::EnvironmentVariable {
                    name,
                    r#type: Some(v1::EnvironmentVariableType::Value as i32),
                    value: Some(value),
                })
                .collect(),
        }),
        user: app.user.clone(),
        ..Default::default()
    };
    match (&app.cmd, &app.args) {
        (Some(cmd), _) => {
            command.shell = Some(true);
            command.value = Some(cmd.clone());
        }
        (None, Some(args)) if is_docker => {
            command.shell = Some(false);
            command.arguments = args.clone();
        }
        (None, Some(args)) => {
            command.shell = Some(false);
            command.value = args.first().cloned();
            command.arguments = args.clone();
        }
        (None, None) => command.shell = Some(false),
    }
    v1::TaskInfo {
        name: app.id.segments().last().cloned().unwrap_or_default(),
        task_id: Some(v1::task_id(task_id)),
        agent_id: Some(view.agent_id.clone()),
        resources,
        command: Some(command),
        container: app
            .container
            .as_ref()
            .and_then(|c| container_info(c, ports)),
        health_check: app
            .health_checks
            .iter()
            .find(|h| h.is_mesos())
            .map(|h| mesos_health_check(h, ports)),
        kill_policy: app.task_kill_grace_period_seconds.map(|g| v1::KillPolicy {
            grace_period: Some(v1::DurationInfo {
                nanoseconds: (g * 1e9) as i64,
            }),
        }),
        labels: (!app.labels.is_empty()).then(|| v1::Labels {
            labels: app
                .labels
                .iter()
                .map(|(k, v)| v1::Label {
                    key: k.clone(),
                    value: Some(v.clone()),
                })
                .collect(),
        }),
        ..Default::default()
    }
}

/// The task's environment, as Marathon sets it.
pub fn environment(
    app: &AppDefinition,
    task_id: &str,
    host: &str,
    ports: &[u64],
) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for (i, p) in ports.iter().enumerate() {
        env.insert(format!("PORT{i}"), p.to_string());
    }
    if let Some(p) = ports.first() {
        env.insert("PORT".into(), p.to_string());
    }
    env.insert(
        "PORTS".into(),
        ports
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(","),
    );
    let service_ports = app.service_ports();
    for (i, p) in ports.iter().enumerate() {
        if let Some(sp) = service_ports.get(i).filter(|sp| **sp > 0) {
            env.insert(format!("PORT_{sp}"), p.to_string());
        }
        if let Some(name) = app.port_definitions.get(i).and_then(|d| d.name.as_ref()) {
            env.insert(format!("PORT_{}", env_name(name)), p.to_string());
        }
    }
    env.insert("HOST".into(), host.to_owned());
    env.insert("MARATHON_APP_ID".into(), app.id.to_string());
    env.insert("MARATHON_APP_VERSION".into(), app.version.clone());
    env.insert("MESOS_TASK_ID".into(), task_id.to_owned());
    env.insert("MARATHON_APP_RESOURCE_CPUS".into(), app.cpus.to_string());
    env.insert("MARATHON_APP_RESOURCE_MEM".into(), app.mem.to_string());
    env.insert("MARATHON_APP_RESOURCE_DISK".into(), app.disk.to_string());
    env.insert("MARATHON_APP_RESOURCE_GPUS".into(), app.gpus.to_string());
    if let Some(image) = app
        .container
        .as_ref()
        .and_then(|c| c.get("docker"))
        .and_then(|d| d.get("image"))
        .and_then(Value::as_str)
    {
        env.insert("MARATHON_APP_DOCKER_IMAGE".into(), image.to_owned());
    }
    let names: Vec<String> = app.labels.keys().map(|k| env_name(k)).collect();
    env.insert("MARATHON_APP_LABELS".into(), names.join(" "));
    for (k, v) in &app.labels {
        env.insert(format!("MARATHON_APP_LABEL_{}", env_name(k)), v.clone());
    }
    // The app's own variables win.
    for (k, v) in &app.env {
        env.insert(k.clone(), v.clone());
    }
    env
}

fn env_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

fn fetch_uris(app: &AppDefinition) -> Vec<v1::CommandUri> {
    let mut out: Vec<v1::CommandUri> = app
        .uris
        .iter()
        .map(|u| v1::CommandUri {
            value: u.clone(),
            extract: Some(is_archive(u)),
            ..Default::default()
        })
        .collect();
    for f in &app.fetch {
        let Some(uri) = f.get("uri").and_then(Value::as_str) else {
            continue;
        };
        out.push(v1::CommandUri {
            value: uri.to_owned(),
            executable: f.get("executable").and_then(Value::as_bool),
            extract: Some(
                f.get("extract")
                    .and_then(Value::as_bool)
                    .unwrap_or_else(|| is_archive(uri)),
            ),
            cache: f.get("cache").and_then(Value::as_bool),
            output_file: f
                .get("destPath")
                .or_else(|| f.get("outputFile"))
                .and_then(Value::as_str)
                .map(str::to_owned),
        });
    }
    out
}

fn is_archive(uri: &str) -> bool {
    [
        ".tgz", ".tar.gz", ".tbz2", ".tar.bz2", ".txz", ".tar.xz", ".zip", ".tar",
    ]
    .iter()
    .any(|s| uri.ends_with(s))
}

/// The Mesos health check run by the executor (MESOS_HTTP, MESOS_TCP, COMMAND).
pub fn mesos_health_check(h: &HealthCheckDef, ports: &[u64]) -> v1::HealthCheck {
    let port = h
        .port
        .map(u64::from)
        .or_else(|| ports.get(h.port_index.unwrap_or(0) as usize).copied())
        .unwrap_or(0) as u32;
    let mut check = v1::HealthCheck {
        delay_seconds: Some(h.delay_seconds),
        interval_seconds: Some(h.interval_seconds),
        timeout_seconds: Some(h.timeout_seconds),
        consecutive_failures: Some(h.max_consecutive_failures),
        grace_period_seconds: Some(h.grace_period_seconds),
        ..Default::default()
    };
    match h.protocol.as_str() {
        "MESOS_HTTP" | "MESOS_HTTPS" => {
            check.r#type = Some(v1::HealthCheckType::Http as i32);
            check.http = Some(v1::HttpCheckInfo {
                scheme: Some(
                    if h.protocol == "MESOS_HTTPS" {
                        "https"
                    } else {
                        "http"
                    }
                    .into(),
                ),
                port,
                path: h.path.clone(),
                statuses: Vec::new(),
            });
        }
        "MESOS_TCP" => {
            check.r#type = Some(v1::HealthCheckType::Tcp as i32);
            check.tcp = Some(v1::TcpCheckInfo { port });
        }
        _ => {
            check.r#type = Some(v1::HealthCheckType::Command as i32);
            check.command = Some(v1::CommandInfo {
                shell: Some(true),
                value: h.command.as_ref().map(|c| c.value.clone()),
                ..Default::default()
            });
        }
    }
    check
}

/// The container as Mesos's `ContainerInfo`, host ports filled in for port mappings.
pub fn container_info(c: &Value, ports: &[u64]) -> Option<v1::ContainerInfo> {
    let kind = match c.get("type").and_then(Value::as_str).unwrap_or("DOCKER") {
        "MESOS" => v1::ContainerType::Mesos,
        _ => v1::ContainerType::Docker,
    };
    let docker = c.get("docker");
    let mappings = c
        .get("portMappings")
        .or_else(|| docker.and_then(|d| d.get("portMappings")))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let network = docker
        .and_then(|d| d.get("network"))
        .and_then(Value::as_str)
        .map(|n| match n {
            "HOST" => v1::DockerNetwork::Host,
            "NONE" => v1::DockerNetwork::None,
            "USER" => v1::DockerNetwork::User,
            _ => v1::DockerNetwork::Bridge,
        })
        .unwrap_or(if mappings.is_empty() {
            v1::DockerNetwork::Host
        } else {
            v1::DockerNetwork::Bridge
        });
    let docker_info = docker
        .and_then(|d| d.get("image"))
        .and_then(Value::as_str)
        .map(|image| v1::DockerInfo {
            image: image.to_owned(),
            network: Some(network as i32),
            port_mappings: mappings
                .iter()
                .enumerate()
                .map(|(i, m)| v1::DockerPortMapping {
                    host_port: ports.get(i).copied().unwrap_or(0) as u32,
                    container_port: m.get("containerPort").and_then(Value::as_u64).unwrap_or(0)
                        as u32,
                    protocol: m.get("protocol").and_then(Value::as_str).map(str::to_owned),
                })
                .collect(),
            privileged: docker
                .and_then(|d| d.get("privileged"))
                .and_then(Value::as_bool),
            parameters: docker
                .and_then(|d| d.get("parameters"))
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|p| {
                            Some(v1::Parameter {
                                key: p.get("key")?.as_str()?.to_owned(),
                                value: p.get("value")?.as_str()?.to_owned(),
                            })
                        })
                        .collect()
                })
                .unwrap_or_default(),
            force_pull_image: docker
                .and_then(|d| d.get("forcePullImage"))
                .and_then(Value::as_bool),
        });
    let volumes = c
        .get("volumes")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| {
                    Some(v1::Volume {
                        mode: match v.get("mode").and_then(Value::as_str) {
                            Some("RO") => v1::VolumeMode::Ro as i32,
                            _ => v1::VolumeMode::Rw as i32,
                        },
                        container_path: v.get("containerPath")?.as_str()?.to_owned(),
                        host_path: v.get("hostPath").and_then(Value::as_str).map(str::to_owned),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Some(v1::ContainerInfo {
        r#type: kind as i32,
        volumes,
        hostname: None,
        docker: docker_info,
        network_infos: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::parse_app;
    use crate::pathid::PathId;
    use serde_json::json;

    fn app(v: Value) -> AppDefinition {
        parse_app(&v, &PathId::root(), "", "2024-01-01T00:00:00.000Z").unwrap()
    }

    #[test]
    fn environment_has_ports_host_and_app_variables() {
        let a = app(
            json!({"id": "/prod/web", "cmd": "x", "portDefinitions": [{"port": 10001, "name": "http"}, {"port": 0}],
            "labels": {"team": "a"}, "env": {"PORT1": "override"}}),
        );
        let env = environment(&a, "prod_web.1", "10.0.0.1", &[31000, 31001]);
        assert_eq!(env["PORT0"], "31000");
        assert_eq!(env["PORT"], "31000");
        assert_eq!(env["PORTS"], "31000,31001");
        assert_eq!(env["PORT_HTTP"], "31000");
        assert_eq!(env["PORT_10001"], "31000");
        assert_eq!(env["PORT1"], "override");
        assert_eq!(env["HOST"], "10.0.0.1");
        assert_eq!(env["MARATHON_APP_ID"], "/prod/web");
        assert_eq!(env["MARATHON_APP_LABEL_TEAM"], "a");
    }

    #[test]
    fn docker_apps_map_to_container_info_with_host_ports() {
        let a = app(
            json!({"id": "/web", "container": {"type": "DOCKER", "docker": {"image": "busybox", "network": "BRIDGE"},
            "portMappings": [{"containerPort": 8080, "hostPort": 0}]}, "args": ["httpd", "-f"]}),
        );
        let c = container_info(a.container.as_ref().unwrap(), &[31005]).unwrap();
        assert_eq!(c.r#type, v1::ContainerType::Docker as i32);
        let d = c.docker.unwrap();
        assert_eq!(d.image, "busybox");
        assert_eq!(d.port_mappings[0].host_port, 31005);
        assert_eq!(d.port_mappings[0].container_port, 8080);
        assert_eq!(a.port_count(), 1);
    }

    #[test]
    fn mesos_checks_become_task_health_checks() {
        let a = app(json!({"id": "/web", "cmd": "x", "ports": [0],
            "healthChecks": [{"protocol": "MESOS_HTTP", "path": "/health", "intervalSeconds": 2}]}));
        let hc = mesos_health_check(&a.health_checks[0], &[31007]);
        assert_eq!(hc.r#type, Some(v1::HealthCheckType::Http as i32));
        assert_eq!(hc.http.as_ref().unwrap().port, 31007);
        assert_eq!(hc.interval_seconds, Some(2.0));
    }
}

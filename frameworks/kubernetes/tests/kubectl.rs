//! The acceptance walk-through with the real kubectl: the server on a free loopback port
//! (embedded store in a temp dir), kubectl with an empty KUBECONFIG and a fresh cache dir.
//!
//! kubectl missing: skipped loudly locally, a failure on CI (`CI=true`). `KUBECTL=` pins
//! a binary (the default is the `kubectl` on PATH, which on these machines is the
//! dispatcher that runs kubectl 1.32 for a server reporting minor 32).

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use common::{require, serve, server, TempDir};
use serde_json::Value;

fn find_kubectl() -> Result<PathBuf, String> {
    if let Some(k) = std::env::var_os("KUBECTL") {
        return Ok(PathBuf::from(k));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("kubectl"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            "kubectl not found on PATH (install kubectl 1.32, or set KUBECTL)".to_string()
        })
}

struct Kubectl {
    bin: PathBuf,
    server: String,
    dir: PathBuf,
}

impl Kubectl {
    async fn run_with(&self, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Output {
        let mut cmd = tokio::process::Command::new(&self.bin);
        cmd.arg("-s")
            .arg(&self.server)
            .arg("--cache-dir")
            .arg(self.dir.join("cache"))
            .args(args)
            .env("KUBECONFIG", self.dir.join("kubeconfig"))
            .env_remove("KUBERNETES_SERVICE_HOST")
            .current_dir(&self.dir)
            .stdin(if stdin.is_some() {
                std::process::Stdio::piped()
            } else {
                std::process::Stdio::null()
            })
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn kubectl");
        if let Some(input) = stdin {
            use tokio::io::AsyncWriteExt as _;
            let mut pipe = child.stdin.take().expect("stdin");
            pipe.write_all(input.as_bytes()).await.expect("write stdin");
            drop(pipe);
        }
        tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("kubectl {args:?} did not finish within 60s"))
            .expect("kubectl output")
    }

    /// Runs kubectl and returns stdout; fails the test on a non-zero exit.
    async fn ok(&self, args: &[&str]) -> String {
        self.ok_with(args, None, &[]).await
    }

    async fn ok_with(&self, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> String {
        let out = self.run_with(args, stdin, env).await;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success(),
            "kubectl {} failed ({}):\nstdout:\n{stdout}\nstderr:\n{stderr}",
            args.join(" "),
            out.status
        );
        stdout
    }

    /// Runs kubectl expecting failure; returns stderr.
    async fn fails(&self, args: &[&str]) -> String {
        let out = self.run_with(args, None, &[]).await;
        assert!(
            !out.status.success(),
            "kubectl {} unexpectedly succeeded",
            args.join(" ")
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    async fn json(&self, args: &[&str]) -> Value {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["-o", "json"]);
        serde_json::from_str(&self.ok(&all).await).expect("kubectl -o json prints JSON")
    }
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write manifest");
    path.display().to_string()
}

#[track_caller]
fn has(haystack: &str, needle: &str) {
    assert!(
        haystack.contains(needle),
        "expected {needle:?} in:\n{haystack}"
    );
}

const POD: &str = "apiVersion: v1
kind: Pod
metadata:
  name: p1
  labels: {app: web, tier: fe}
spec:
  containers:
  - name: c
    image: busybox:1.36
    command: [sleep, '3600']
    ports: [{containerPort: 8080}]
";
const RC: &str = "apiVersion: v1
kind: ReplicationController
metadata: {name: web}
spec:
  replicas: 2
  selector: {app: web}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: 'busybox:1.36', ports: [{containerPort: 8080}]}]
";
const SVC: &str = "apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
";
const DEPLOY: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: app, labels: {app: app}}
spec:
  replicas: 1
  selector: {matchLabels: {app: app}}
  template:
    metadata: {labels: {app: app}}
    spec:
      containers:
      - {name: a, image: 'busybox:1.36', env: [{name: X, value: '1'}]}
      - {name: b, image: 'busybox:1.36'}
";
const CM: &str = "apiVersion: v1
kind: ConfigMap
metadata: {name: cfg}
data: {a: '1', b: two}
";
const SECRET: &str = "apiVersion: v1
kind: Secret
metadata: {name: s}
stringData: {password: hunter2}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_acceptance() {
    let Some(bin) = require(
        "strata-frameworks-kubernetes kubectl_acceptance",
        find_kubectl(),
    ) else {
        return;
    };
    let dir = TempDir::new("kubectl");
    let state = server(&TempDir(dir.path().join("store"))).await;
    let (url, _stop) = serve(state).await;
    std::fs::write(dir.path().join("kubeconfig"), "").unwrap();
    let k = Kubectl {
        bin,
        server: url,
        dir: dir.path().to_path_buf(),
    };
    let d = dir.path();

    // --- discovery ---
    let version = k.ok(&["version"]).await;
    has(&version, "Server Version: v1.32.0");
    let resources = k.ok(&["api-resources"]).await;
    for line in [
        "pods ",
        "po ",
        "replicationcontrollers",
        "deployments",
        "deploy ",
        "cronjobs",
        "leases",
    ] {
        has(&resources, line);
    }
    let versions = k.ok(&["api-versions"]).await;
    for v in [
        "apps/v1",
        "batch/v1",
        "coordination.k8s.io/v1",
        "events.k8s.io/v1",
        "v1",
    ] {
        has(&versions, v);
    }
    let explain = k.ok(&["explain", "pod.spec"]).await;
    has(&explain, "FIELD: spec <PodSpec>");
    has(&explain, "containers\t<[]Container> -required-");
    has(&explain, "restartPolicy\t<string>");

    // --- create -f (with the default strict validation) ---
    for (name, text, expect) in [
        ("pod.yaml", POD, "pod/p1 created"),
        ("rc.yaml", RC, "replicationcontroller/web created"),
        ("svc.yaml", SVC, "service/web created"),
        ("deploy.yaml", DEPLOY, "deployment.apps/app created"),
        ("cm.yaml", CM, "configmap/cfg created"),
        ("secret.yaml", SECRET, "secret/s created"),
    ] {
        let f = write(d, name, text);
        has(&k.ok(&["create", "-f", &f]).await, expect);
    }
    let err = k
        .fails(&["create", "-f", &d.join("pod.yaml").display().to_string()])
        .await;
    has(&err, "AlreadyExists");
    let bogus = write(
        d,
        "bogus.yaml",
        &POD.replace("name: p1", "name: p2").replace(
            "image: busybox:1.36",
            "image: busybox:1.36\n    imagePullPolice: Always",
        ),
    );
    has(
        &k.fails(&["create", "-f", &bogus]).await,
        "unknown field \"spec.containers[0].imagePullPolice\"",
    );

    // --- get ---
    let all = k.ok(&["get", "all"]).await;
    has(&all, "pod/p1");
    has(&all, "replicationcontroller/web");
    has(&all, "service/web");
    has(&all, "deployment.apps/app");
    let pods = k.ok(&["get", "pods"]).await;
    has(&pods, "NAME   READY   STATUS    RESTARTS   AGE");
    has(&pods, "0/1     Pending");
    has(
        &k.ok(&["get", "pods", "-o", "wide"]).await,
        "NOMINATED NODE",
    );
    has(&k.ok(&["get", "rc", "-o", "wide"]).await, "SELECTOR");
    has(&k.ok(&["get", "svc", "web"]).await, "80/TCP");
    let yaml = k.ok(&["get", "pod", "p1", "-o", "yaml"]).await;
    has(&yaml, "restartPolicy: Always");
    has(&yaml, "terminationMessagePath: /dev/termination-log");
    let pod = k.json(&["get", "pod", "p1"]).await;
    assert_eq!(pod["spec"]["dnsPolicy"], "ClusterFirst");
    assert_eq!(pod["status"]["phase"], "Pending");
    has(
        &k.ok(&["get", "pods", "-l", "app=web", "-o", "name"]).await,
        "pod/p1",
    );
    assert_eq!(
        k.ok(&["get", "pods", "-l", "app in (db),tier", "-o", "name"])
            .await
            .trim(),
        ""
    );
    has(
        &k.ok(&[
            "get",
            "pods",
            "--field-selector",
            "status.phase=Pending,metadata.name=p1",
            "-o",
            "name",
        ])
        .await,
        "pod/p1",
    );
    let everywhere = k.ok(&["get", "pods", "-A"]).await;
    has(&everywhere, "NAMESPACE");
    has(&everywhere, "default     p1");
    let secret = k.json(&["get", "secret", "s"]).await;
    assert_eq!(secret["data"]["password"], "aHVudGVyMg==");
    has(
        &k.ok(&["get", "cm", "cfg", "-o", "jsonpath={.data.b}"])
            .await,
        "two",
    );
    has(&k.ok(&["get", "ns"]).await, "kube-system");

    // --- describe ---
    let described = k.ok(&["describe", "pod", "p1"]).await;
    has(&described, "Status:           Pending");
    has(&described, "Image:      busybox:1.36");
    has(
        &k.ok(&["describe", "svc", "web"]).await,
        "Selector:                 app=web",
    );
    has(
        &k.ok(&["describe", "rc", "web"]).await,
        "Replicas:     0 current / 2 desired",
    );

    // --- apply twice: the change in between is patched ---
    let app = write(d, "app.yaml", &DEPLOY.replace("name: app,", "name: app2,"));
    has(
        &k.ok(&["apply", "-f", &app]).await,
        "deployment.apps/app2 created",
    );
    let changed = std::fs::read_to_string(&app)
        .unwrap()
        .replace("replicas: 1", "replicas: 3")
        .replace("value: '1'", "value: '2'");
    std::fs::write(&app, changed).unwrap();
    has(
        &k.ok(&["apply", "-f", &app]).await,
        "deployment.apps/app2 configured",
    );
    let app2 = k.json(&["get", "deploy", "app2"]).await;
    assert_eq!(app2["spec"]["replicas"], 3);
    assert_eq!(
        app2["spec"]["template"]["spec"]["containers"][0]["env"][0]["value"],
        "2"
    );
    assert_eq!(
        app2["spec"]["template"]["spec"]["containers"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(app2["metadata"]["generation"], 2);
    has(
        &k.ok(&["apply", "-f", &app]).await,
        "deployment.apps/app2 unchanged",
    );

    // --- apply --server-side ---
    let ssa = write(
        d,
        "ssa.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa}\ndata: {k: v}\n",
    );
    has(
        &k.ok(&["apply", "--server-side", "-f", &ssa]).await,
        "configmap/ssa serverside-applied",
    );
    std::fs::write(
        d.join("ssa.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ssa}\ndata: {k: v2}\n",
    )
    .unwrap();
    has(
        &k.ok(&["apply", "--server-side", "-f", &ssa]).await,
        "serverside-applied",
    );
    let cm = k.json(&["get", "cm", "ssa", "--show-managed-fields"]).await;
    assert_eq!(cm["data"]["k"], "v2");
    assert_eq!(cm["metadata"]["managedFields"][0]["operation"], "Apply");
    // Another manager's field: a conflict unless forced.
    k.ok(&[
        "patch",
        "cm",
        "ssa",
        "--type=merge",
        "-p",
        r#"{"data":{"k":"edited"}}"#,
    ])
    .await;
    has(
        &k.fails(&["apply", "--server-side", "-f", &ssa]).await,
        "conflict",
    );
    has(
        &k.ok(&["apply", "--server-side", "--force-conflicts", "-f", &ssa])
            .await,
        "serverside-applied",
    );

    // --- label, annotate, patch (three types), edit ---
    has(
        &k.ok(&["label", "pod", "p1", "env=prod"]).await,
        "pod/p1 labeled",
    );
    has(
        &k.ok(&["annotate", "pod", "p1", "note=hello"]).await,
        "pod/p1 annotated",
    );
    k.ok(&[
        "patch",
        "pod",
        "p1",
        "-p",
        r#"{"metadata":{"labels":{"patched":"smp"}}}"#,
    ])
    .await;
    k.ok(&[
        "patch",
        "pod",
        "p1",
        "--type=merge",
        "-p",
        r#"{"metadata":{"labels":{"merge":"yes"}}}"#,
    ])
    .await;
    k.ok(&[
        "patch",
        "pod",
        "p1",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/metadata/labels/patched","value":"json"}]"#,
    ])
    .await;
    k.ok(&[
        "patch",
        "pod",
        "p1",
        "-p",
        r#"{"spec":{"containers":[{"name":"c","image":"busybox:1.37"}]}}"#,
    ])
    .await;
    let p1 = k.json(&["get", "pod", "p1"]).await;
    assert_eq!(p1["metadata"]["labels"]["env"], "prod");
    assert_eq!(p1["metadata"]["labels"]["patched"], "json");
    assert_eq!(p1["metadata"]["labels"]["merge"], "yes");
    assert_eq!(p1["metadata"]["annotations"]["note"], "hello");
    assert_eq!(p1["spec"]["containers"][0]["image"], "busybox:1.37");
    has(
        &k.fails(&[
            "patch",
            "pod",
            "p1",
            "-p",
            r#"{"spec":{"restartPolicy":"Never"}}"#,
        ])
        .await,
        "is invalid",
    );
    let editor = write(
        d,
        "editor.sh",
        "#!/bin/sh\nsed -i 's/^  b: two/  b: edited/' \"$1\"\n",
    );
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    has(
        &k.ok_with(
            &["edit", "cm", "cfg"],
            None,
            &[("KUBE_EDITOR", editor.as_str())],
        )
        .await,
        "configmap/cfg edited",
    );
    has(
        &k.ok(&["get", "cm", "cfg", "-o", "jsonpath={.data.b}"])
            .await,
        "edited",
    );

    // --- scale ---
    has(
        &k.ok(&["scale", "rc", "web", "--replicas=3"]).await,
        "replicationcontroller/web scaled",
    );
    has(
        &k.ok(&["scale", "rc", "web", "--current-replicas=3", "--replicas=4"])
            .await,
        "scaled",
    );
    has(
        &k.ok(&["scale", "deploy", "app", "--replicas=5"]).await,
        "deployment.apps/app scaled",
    );
    assert_eq!(k.json(&["get", "rc", "web"]).await["spec"]["replicas"], 4);
    assert_eq!(
        k.json(&["get", "deploy", "app"]).await["spec"]["replicas"],
        5
    );

    // --- get -w sees a change, then exits when the server ends the watch ---
    let watcher = {
        let k = Kubectl {
            bin: k.bin.clone(),
            server: k.server.clone(),
            dir: k.dir.clone(),
        };
        tokio::spawn(async move { k.ok(&["get", "pods", "-w", "--request-timeout=4s"]).await })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    k.ok(&["label", "pod", "p1", "watched=yes"]).await;
    let seen = watcher.await.unwrap();
    assert!(
        seen.matches("p1").count() >= 2,
        "the watch printed the modification:\n{seen}"
    );

    // --- delete: cascading through owner references ---
    let rc = k.json(&["get", "rc", "web"]).await;
    let uid = rc["metadata"]["uid"].as_str().unwrap();
    for i in 0..2 {
        let owned = format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web-{i}\n  labels: {{app: web}}\n  ownerReferences: [{{apiVersion: v1, kind: ReplicationController, name: web, uid: '{uid}', controller: true, blockOwnerDeletion: true}}]\nspec: {{containers: [{{name: web, image: busybox}}]}}\n"
        );
        k.ok_with(&["create", "-f", "-"], Some(&owned), &[]).await;
    }
    has(
        &k.ok(&["delete", "rc", "web"]).await,
        "replicationcontroller \"web\" deleted",
    );
    let mut left = String::new();
    for _ in 0..50 {
        left = k.ok(&["get", "pods", "-l", "app=web", "-o", "name"]).await;
        if !left.contains("web-") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !left.contains("web-"),
        "the rc's pods were collected: {left}"
    );
    // Foreground: kubectl waits until the dependents and then the owner are gone.
    has(
        &k.ok(&["delete", "deploy", "app2", "--cascade=foreground"])
            .await,
        "deleted",
    );
    k.fails(&["get", "deploy", "app2"]).await;
    // A pod bound to a node is deleted gracefully: kubectl waits for the DELETED event.
    let bound = write(d, "bound.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: bound}\nspec: {nodeName: node-1, terminationGracePeriodSeconds: 1, containers: [{name: c, image: busybox}]}\n");
    k.ok(&["create", "-f", &bound]).await;
    has(
        &k.ok(&["delete", "pod", "bound"]).await,
        "pod \"bound\" deleted",
    );
    has(&k.fails(&["get", "pod", "bound"]).await, "NotFound");
    has(
        &k.ok(&["delete", "-f", &d.join("svc.yaml").display().to_string()])
            .await,
        "service \"web\" deleted",
    );

    // --- namespaces ---
    has(
        &k.ok(&["create", "namespace", "team-a"]).await,
        "namespace/team-a created",
    );
    has(
        &k.ok(&[
            "-n",
            "team-a",
            "create",
            "configmap",
            "c1",
            "--from-literal=a=b",
        ])
        .await,
        "configmap/c1 created",
    );
    has(
        &k.ok(&[
            "-n",
            "team-a",
            "create",
            "deployment",
            "d1",
            "--image=nginx",
        ])
        .await,
        "deployment.apps/d1 created",
    );
    has(
        &k.ok(&["-n", "team-a", "run", "nginx", "--image=nginx"])
            .await,
        "pod/nginx created",
    );
    has(
        &k.ok(&["delete", "namespace", "team-a"]).await,
        "namespace \"team-a\" deleted",
    );
    has(&k.fails(&["get", "ns", "team-a"]).await, "NotFound");
    assert_eq!(
        k.ok(&[
            "get",
            "cm",
            "-A",
            "--field-selector",
            "metadata.namespace=team-a",
            "-o",
            "name"
        ])
        .await
        .trim(),
        ""
    );

    // --- run ---
    has(
        &k.ok(&["run", "nginx", "--image=nginx"]).await,
        "pod/nginx created",
    );
    let nginx = k.json(&["get", "pod", "nginx"]).await;
    assert_eq!(nginx["metadata"]["labels"]["run"], "nginx");
    assert_eq!(nginx["spec"]["containers"][0]["imagePullPolicy"], "Always");

    // --- every kind lists ---
    for kind in [
        "pods", "rc", "svc", "ep", "nodes", "events", "cm", "secrets", "sa", "pv", "pvc", "limits",
        "quota", "deploy", "rs", "ds", "sts", "jobs", "cj", "leases", "ns",
    ] {
        k.ok(&["get", kind]).await;
    }
}

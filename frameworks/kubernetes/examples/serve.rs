//! Runs the Kubernetes API server alone, for trying it with kubectl:
//!
//! ```text
//! cargo run -p strata-frameworks-kubernetes --example serve -- [LISTEN] [WORK_DIR] [MASTER]
//! kubectl -s http://127.0.0.1:8888 get pods
//! ```
//!
//! Defaults: `127.0.0.1:8888`, `./k8s-work`, `127.0.0.1:5050` (a missing master is retried
//! in the background; the API works without one).

use strata_frameworks_kubernetes::{run, KubernetesConfig};

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:8888".into());
    let work_dir = args.next().unwrap_or_else(|| "k8s-work".into());
    let mut config = KubernetesConfig::new(work_dir);
    config.listen = match listen.parse() {
        Ok(addr) => addr,
        Err(e) => {
            eprintln!("error: invalid listen address {listen:?}: {e}");
            std::process::exit(2);
        }
    };
    if let Some(master) = args.next() {
        config.master = master;
    }
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    if let Err(e) = run(config, shutdown).await {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

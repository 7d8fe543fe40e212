//! Runs Marathon against a master, for trying it by hand:
//!
//! ```sh
//! cargo run -p strata-frameworks-marathon --example serve -- 127.0.0.1:5050 127.0.0.1:8080 /tmp/marathon
//! ```
//!
//! Arguments: master (default 127.0.0.1:5050), listen address (default 127.0.0.1:8080),
//! work dir of the embedded store (default ./marathon-work). Stops on Ctrl-C.

use std::net::SocketAddr;

use strata_frameworks_marathon::{run, MarathonConfig};

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut args = std::env::args().skip(1);
    let master = args.next().unwrap_or_else(|| "127.0.0.1:5050".into());
    let listen: SocketAddr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:8080".into())
        .parse()
        .expect("listen address host:port");
    let work_dir = args.next().unwrap_or_else(|| "marathon-work".into());
    let mut config = MarathonConfig::new(master, work_dir);
    config.listen = listen;
    config.store_url = std::env::var("MARATHON_STORE_URL").ok();
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    if let Err(e) = run(config, shutdown).await {
        eprintln!("marathon failed: {e}");
        std::process::exit(1);
    }
}

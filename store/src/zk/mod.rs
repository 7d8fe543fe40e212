//! The ZooKeeper backend (see the crate docs for the znode layout and the revision rule).

mod election;
mod session;
mod store;

use std::sync::Arc;
use std::time::Duration;

use zookeeper_async::{Acl, CreateMode, ZkError};

pub(crate) use election::{ZkDetector, ZkElection};
use session::{unexpected, ZkClient};
pub(crate) use store::ZkStore;

use crate::{Backends, Error, Result, ZkOptions};

/// The prefix of the znodes masters advertise themselves with (Mesos's name: real Mesos
/// clients look for it).
pub(crate) const LEADER_PREFIX: &str = "json.info_";

/// How often watchers re-read what they watch, in case a ZooKeeper watch was lost (the
/// client library does not re-register watches after a reconnection).
const POLL: Duration = Duration::from_secs(2);

/// A parsed `zk://host:port[,host:port]/path`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ZkUrl {
    /// `host:port[,host:port]`, as the client library takes it.
    pub(crate) servers: String,
    /// The absolute path everything lives under, e.g. `/strata`.
    pub(crate) path: String,
}

impl ZkUrl {
    pub(crate) fn parse(url: &str) -> Result<ZkUrl> {
        let rest = url
            .strip_prefix("zk://")
            .ok_or_else(|| Error::invalid_url(url, "expected zk://host:port[,host:port]/path"))?;
        let (hosts, path) = match rest.find('/') {
            Some(at) => (&rest[..at], &rest[at..]),
            None => (rest, ""),
        };
        if hosts.contains('@') {
            return Err(Error::invalid_url(
                url,
                "zookeeper authentication (user:password@) is not supported",
            ));
        }
        let mut servers = Vec::new();
        for host in hosts.split(',') {
            let host = host.trim();
            if host.is_empty() {
                return Err(Error::invalid_url(url, "empty host in the server list"));
            }
            match host.rsplit_once(':') {
                Some((name, port)) if !name.is_empty() => {
                    if port.parse::<u16>().is_err() {
                        return Err(Error::invalid_url(
                            url,
                            format!("bad port {port:?} in {host:?}"),
                        ));
                    }
                    servers.push(host.to_string());
                }
                Some(_) => {
                    return Err(Error::invalid_url(url, format!("missing host in {host:?}")))
                }
                // ZooKeeper's own default client port.
                None => servers.push(format!("{host}:2181")),
            }
        }
        if path.is_empty() || path == "/" {
            return Err(Error::invalid_url(
                url,
                "missing path (zk://host:port/path, for example zk://127.0.0.1:2181/strata)",
            ));
        }
        if path[1..]
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == ".." || s.contains(char::is_whitespace))
        {
            return Err(Error::invalid_url(url, format!("bad znode path {path:?}")));
        }
        Ok(ZkUrl {
            servers: servers.join(","),
            path: path.to_string(),
        })
    }
}

/// Opens the three backends on one shared session.
pub(crate) async fn open(url: &str, options: ZkOptions) -> Result<Backends> {
    let url = ZkUrl::parse(url)?;
    let client = Arc::new(ZkClient::new(url.servers.clone(), options));
    // Connect now: a wrong or unreachable ZooKeeper is reported at start, not later.
    ensure_path(&client, &url.path).await?;
    Ok(Backends {
        store: Arc::new(ZkStore::new(client.clone(), &url.path)),
        election: Arc::new(ZkElection::new(client.clone(), &url.path)),
        detector: Arc::new(ZkDetector::spawn(client, url.path)),
    })
}

/// Creates `path` and its parents as empty persistent znodes where missing.
async fn ensure_path(client: &ZkClient, path: &str) -> Result<()> {
    for (at, _) in path.match_indices('/').skip(1).chain([(path.len(), "")]) {
        let prefix = path[..at].to_string();
        let created = client
            .call("create", |zk| {
                let prefix = prefix.clone();
                async move {
                    zk.create(
                        &prefix,
                        Vec::new(),
                        Acl::open_unsafe().clone(),
                        CreateMode::Persistent,
                    )
                    .await
                }
            })
            .await?;
        match created {
            // NoNode: a parent was removed meanwhile (an emptied directory); the caller retries.
            Ok(_) | Err(ZkError::NodeExists) | Err(ZkError::NoNode) => {}
            Err(e) => return Err(unexpected("create", &prefix, e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::ZkUrl;

    #[test]
    fn parses_mesos_style_urls() {
        let url = ZkUrl::parse("zk://10.0.0.1:2181,10.0.0.2:2182/mesos").unwrap();
        assert_eq!(url.servers, "10.0.0.1:2181,10.0.0.2:2182");
        assert_eq!(url.path, "/mesos");
        let url = ZkUrl::parse("zk://localhost/a/b").unwrap();
        assert_eq!(url.servers, "localhost:2181");
        assert_eq!(url.path, "/a/b");
    }

    #[test]
    fn rejects_bad_urls() {
        for bad in [
            "http://h:1/p",
            "zk://h:1",
            "zk://h:1/",
            "zk://h:x/p",
            "zk://u:p@h:1/p",
            "zk://h:1/p/",
            "zk://h:1//p",
            "zk://,h:1/p",
        ] {
            let err = ZkUrl::parse(bad).expect_err(bad).to_string();
            assert!(err.contains(bad), "{err}");
        }
    }
}

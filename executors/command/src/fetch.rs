//! Fetching `CommandInfo.uris` into the sandbox before the command starts (Mesos's
//! fetcher, for command tasks): local paths and `file://` URIs are copied, `http://` URIs
//! downloaded; `executable` sets the mode to 0755, `extract` unpacks archives with `tar`
//! (or `unzip`), `output_file` names the result.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use strata_client::v1;

const HTTP_TIMEOUT: Duration = Duration::from_secs(30);

/// Fetches every URI of the task's command into `sandbox` (the working directory when
/// `None`). The error names the URI that failed.
pub(crate) fn fetch_all(task: &v1::TaskInfo, sandbox: Option<&Path>) -> Result<(), String> {
    let Some(command) = &task.command else {
        return Ok(());
    };
    let dir = sandbox
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    for uri in &command.uris {
        fetch_one(uri, &dir).map_err(|e| format!("failed to fetch {:?}: {e}", uri.value))?;
    }
    Ok(())
}

fn fetch_one(uri: &v1::CommandUri, dir: &Path) -> Result<(), String> {
    let value = uri.value.as_str();
    let name = uri
        .output_file
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| {
            value
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or("download")
                .split('?')
                .next()
                .unwrap_or("download")
                .to_owned()
        });
    let target = dir.join(&name);
    if let Some(rest) = value.strip_prefix("http://") {
        let bytes = http_get(rest)?;
        std::fs::write(&target, bytes)
            .map_err(|e| format!("cannot write {}: {e}", target.display()))?;
    } else {
        let source = value.strip_prefix("file://").unwrap_or(value);
        if !source.starts_with('/') {
            return Err("only absolute local paths, file:// and http:// URIs are supported".into());
        }
        std::fs::copy(source, &target).map_err(|e| format!("cannot copy {source}: {e}"))?;
    }
    if uri.executable == Some(true) {
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("cannot make {} executable: {e}", target.display()))?;
    }
    if uri.extract.unwrap_or(true) && is_archive(&name) {
        let status = if name.ends_with(".zip") {
            std::process::Command::new("unzip")
                .arg("-oq")
                .arg(&target)
                .arg("-d")
                .arg(dir)
                .status()
        } else {
            std::process::Command::new("tar")
                .arg("-xf")
                .arg(&target)
                .arg("-C")
                .arg(dir)
                .status()
        };
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => return Err(format!("extracting {name} failed: {s}")),
            Err(e) => return Err(format!("cannot run the extractor for {name}: {e}")),
        }
    }
    Ok(())
}

fn is_archive(name: &str) -> bool {
    [
        ".tgz", ".tar.gz", ".tbz2", ".tar.bz2", ".txz", ".tar.xz", ".tar", ".zip",
    ]
    .iter()
    .any(|s| name.ends_with(s))
}

/// A plain HTTP/1.0 GET of `host[:port]/path`; the body of a 200 answer.
fn http_get(rest: &str) -> Result<Vec<u8>, String> {
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let addr = if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let mut stream =
        TcpStream::connect(&addr).map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    stream
        .set_read_timeout(Some(HTTP_TIMEOUT))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {authority}\r\nUser-Agent: strata-fetcher\r\n\r\n"
    )
    .map_err(|e| format!("cannot send the request: {e}"))?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .map_err(|e| format!("cannot read the answer: {e}"))?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("the answer has no header end")?;
    let head = String::from_utf8_lossy(&response[..split]);
    let status = head.split_whitespace().nth(1).unwrap_or("");
    if status != "200" {
        return Err(format!("HTTP {status}"));
    }
    Ok(response[split + 4..].to_vec())
}

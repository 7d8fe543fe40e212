//! A tiny blocking HTTP/1.1 client, enough for operator endpoints and bad-input checks.
//!
//! Every request is `Connection: close` on a fresh socket. Bodies are delimited by
//! `Content-Length`, chunked encoding, or the end of the connection, so a server that keeps the
//! connection open anyway does not hang us. Bodies are written from a second thread while the
//! response is read, so an early answer (413 before the body is consumed) is still seen.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use serde_json::Value;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const IO_TIMEOUT: Duration = Duration::from_secs(15);

/// A complete HTTP response.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The de-chunked body.
    pub body: Vec<u8>,
}

impl Response {
    /// The first header with this (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as (lossy) UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON; panics with the body if it is not.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "response (HTTP {}) is not JSON ({e}): {}",
                self.status,
                self.text()
            )
        })
    }
}

/// Sends one request to `addr` (`host:port`) and reads the whole response.
pub fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<Response> {
    let target: SocketAddr = addr.to_socket_addrs()?.next().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, format!("bad address {addr}"))
    })?;
    let stream = TcpStream::connect_timeout(&target, CONNECT_TIMEOUT)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;

    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    let has = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    if !has("content-length") && (!body.is_empty() || method != "GET") {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");

    let mut writer = stream.try_clone()?;
    writer.write_all(head.as_bytes())?;
    let body = body.to_vec();
    // The server may answer (and close) before reading the whole body; a failed write is then
    // expected and the response is what matters.
    let sender = std::thread::spawn(move || -> io::Result<()> {
        for chunk in body.chunks(64 * 1024) {
            writer.write_all(chunk)?;
        }
        writer.flush()
    });
    let response = read_response(stream);
    let sent = sender
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("writer thread panicked")));
    match (response, sent) {
        (Ok(response), _) => Ok(response),
        (Err(read_err), Err(write_err)) => Err(io::Error::new(
            read_err.kind(),
            format!("{read_err} (writing the body had failed: {write_err})"),
        )),
        (Err(read_err), Ok(())) => Err(read_err),
    }
}

fn read_response(stream: TcpStream) -> io::Result<Response> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    if line.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed before a response",
        ));
    }
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad status line {line:?}"),
            )
        })?;
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let trimmed = line.trim_end_matches(['\r', '\n']);
        if trimmed.is_empty() {
            break;
        }
        if let Some((name, value)) = trimmed.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    if status == 204 || status == 304 || (100..200).contains(&status) {
        // No body.
    } else if find("transfer-encoding")
        .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"))
    {
        loop {
            line.clear();
            reader.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("bad chunk size {line:?}"),
                    )
                })?;
            if size == 0 {
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..])?;
            line.clear();
            reader.read_line(&mut line)?;
        }
    } else if let Some(length) = find("content-length") {
        let length: usize = length
            .parse()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad content-length"))?;
        body.resize(length, 0);
        reader.read_exact(&mut body)?;
    } else {
        reader.read_to_end(&mut body)?;
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// `GET path`.
pub fn get(addr: &str, path: &str) -> io::Result<Response> {
    request(addr, "GET", path, &[], &[])
}

/// `GET path`, which must answer 200 with JSON; panics with the details otherwise.
pub fn get_json(addr: &str, path: &str) -> Value {
    let response =
        get(addr, path).unwrap_or_else(|e| panic!("GET http://{addr}{path} failed: {e}"));
    assert_eq!(
        response.status,
        200,
        "GET http://{addr}{path} answered {}: {}",
        response.status,
        response.text()
    );
    response.json()
}

/// `POST path` with a JSON body (`Content-Type: application/json`) and extra headers.
pub fn post_json(
    addr: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<Response> {
    let mut all = vec![("Content-Type", "application/json")];
    all.extend_from_slice(headers);
    request(addr, "POST", path, &all, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// Serves one canned response and returns the request it received.
    fn serve_once(reply: &'static [u8]) -> (String, std::thread::JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let handle = std::thread::spawn(move || {
            let (mut socket, _) = listener.accept().unwrap();
            socket
                .set_read_timeout(Some(Duration::from_millis(300)))
                .unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            while let Ok(n) = socket.read(&mut buf) {
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            socket.write_all(reply).unwrap();
            got
        });
        (addr, handle)
    }

    #[test]
    fn reads_content_length_bodies() {
        let (addr, server) =
            serve_once(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello");
        let response = post_json(&addr, "/x", &[("Mesos-Stream-Id", "s")], b"{}").unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.text(), "hello");
        assert_eq!(response.header("x-a"), Some("b"));
        let request = String::from_utf8(server.join().unwrap()).unwrap();
        assert!(request.starts_with("POST /x HTTP/1.1\r\n"), "{request}");
        assert!(request.contains("Content-Length: 2\r\n"), "{request}");
        assert!(request.contains("Mesos-Stream-Id: s\r\n"), "{request}");
        assert!(request.ends_with("\r\n\r\n{}"), "{request}");
    }

    #[test]
    fn decodes_chunked_bodies() {
        let (addr, _server) = serve_once(
            b"HTTP/1.1 400 Bad Request\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbad \r\n4\r\njson\r\n0\r\n\r\n",
        );
        let response = get(&addr, "/").unwrap();
        assert_eq!(response.status, 400);
        assert_eq!(response.text(), "bad json");
    }

    #[test]
    fn reads_to_eof_without_length() {
        let (addr, _server) = serve_once(b"HTTP/1.1 200 OK\r\n\r\n{\"a\":1}");
        assert_eq!(get_json(&addr, "/")["a"], 1);
    }
}

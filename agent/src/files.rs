//! Sandbox files over HTTP, with Mesos's `/files` semantics: `browse` lists a
//! directory, `read` returns `{"data", "offset"}` for a byte range (offset -1
//! asks for the file's size), `download` returns the raw file. Only paths
//! inside the agent's work directory are served.

use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

/// Why a file request failed; the HTTP status to answer and the message.
#[derive(Debug)]
pub struct FileError {
    /// 400 or 404.
    pub status: u16,
    /// What was wrong.
    pub message: String,
}

fn not_found(p: &str) -> FileError {
    FileError {
        status: 404,
        message: format!("no such file or directory {p:?}"),
    }
}

/// Resolves `path` and checks it is inside `root`.
pub fn resolve(root: &Path, path: &str) -> Result<PathBuf, FileError> {
    if path.is_empty() {
        return Err(FileError {
            status: 400,
            message: "expecting 'path' to be present".into(),
        });
    }
    let p = std::fs::canonicalize(path).map_err(|_| not_found(path))?;
    if !p.starts_with(root) {
        // Same answer as for a missing file: do not reveal what exists elsewhere.
        return Err(not_found(path));
    }
    Ok(p)
}

/// `/files/browse?path=DIR`.
pub fn browse(root: &Path, path: &str) -> Result<Value, FileError> {
    let dir = resolve(root, path)?;
    let rd = std::fs::read_dir(&dir).map_err(|e| FileError {
        status: 400,
        message: format!("cannot list {path:?}: {e}"),
    })?;
    let mut out = Vec::new();
    for entry in rd.flatten() {
        let Ok(md) = entry.metadata() else { continue };
        out.push(json!({
            "path": entry.path().display().to_string(),
            "nlink": md.nlink(),
            "size": md.len(),
            "mtime": md.mtime(),
            "mode": mode_string(md.mode(), md.is_dir()),
            "uid": md.uid().to_string(),
            "gid": md.gid().to_string(),
        }));
    }
    out.sort_by(|a, b| a["path"].as_str().cmp(&b["path"].as_str()));
    Ok(Value::Array(out))
}

fn mode_string(mode: u32, dir: bool) -> String {
    let mut s = String::with_capacity(10);
    s.push(if dir { 'd' } else { '-' });
    for shift in [6, 3, 0] {
        let bits = (mode >> shift) & 7;
        s.push(if bits & 4 != 0 { 'r' } else { '-' });
        s.push(if bits & 2 != 0 { 'w' } else { '-' });
        s.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    s
}

/// Largest read served at once.
pub const MAX_READ: u64 = 4 * 1024 * 1024;

/// `/files/read?path=FILE&offset=N&length=M`.
pub fn read(
    root: &Path,
    path: &str,
    offset: Option<i64>,
    length: Option<i64>,
) -> Result<Value, FileError> {
    let file = resolve(root, path)?;
    let mut f = std::fs::File::open(&file).map_err(|_| not_found(path))?;
    let md = f.metadata().map_err(|_| not_found(path))?;
    if md.is_dir() {
        return Err(FileError {
            status: 400,
            message: format!("{path:?} is a directory"),
        });
    }
    let size = md.len();
    let offset = offset.unwrap_or(0);
    if offset == -1 {
        return Ok(json!({"data": "", "offset": size}));
    }
    if offset < 0 {
        return Err(FileError {
            status: 400,
            message: format!("invalid offset {offset}: must be -1 or non-negative"),
        });
    }
    if let Some(l) = length {
        if l < -1 {
            return Err(FileError {
                status: 400,
                message: format!("invalid length {l}: must be -1 or non-negative"),
            });
        }
    }
    let offset = offset as u64;
    if offset >= size {
        return Ok(json!({"data": "", "offset": offset}));
    }
    let want = match length {
        None | Some(-1) => size - offset,
        Some(l) => (l as u64).min(size - offset),
    }
    .min(MAX_READ);
    f.seek(SeekFrom::Start(offset)).map_err(|e| FileError {
        status: 400,
        message: e.to_string(),
    })?;
    let mut buf = vec![0u8; want as usize];
    let n = f.read(&mut buf).map_err(|e| FileError {
        status: 400,
        message: e.to_string(),
    })?;
    buf.truncate(n);
    Ok(json!({"data": String::from_utf8_lossy(&buf), "offset": offset}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_honours_offsets_and_refuses_escapes() {
        let dir = std::env::temp_dir().join(format!("strata-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let root = std::fs::canonicalize(&dir).unwrap();
        let f = root.join("stdout");
        std::fs::write(&f, b"hello world").unwrap();
        let p = f.display().to_string();
        assert_eq!(
            read(&root, &p, Some(-1), None).unwrap(),
            json!({"data": "", "offset": 11})
        );
        assert_eq!(
            read(&root, &p, Some(6), Some(3)).unwrap(),
            json!({"data": "wor", "offset": 6})
        );
        assert_eq!(
            read(&root, &p, Some(20), None).unwrap(),
            json!({"data": "", "offset": 20})
        );
        assert_eq!(read(&root, &p, Some(-5), None).unwrap_err().status, 400);
        assert_eq!(
            read(&root, "/etc/passwd", None, None).unwrap_err().status,
            404
        );
        let listing = browse(&root, &root.display().to_string()).unwrap();
        assert_eq!(listing[0]["size"], 11);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

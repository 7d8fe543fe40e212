//! The one conformance suite every `Store` backend passes (module `suite`), instantiated
//! for the embedded store and for ZooKeeper, plus what only one backend has: crash safety
//! and damage detection of the embedded file, ZooKeeper election, session loss and outage.
//!
//! ZooKeeper tests run against a real server (Debian's `zookeeper`); without it they print
//! `SKIPPED: zookeeper not installed (run scripts/setup-zookeeper.sh)` and pass, except with
//! `CI=true`, where they fail.

use std::sync::Arc;
use std::time::Duration;

use strata_store::embedded::EmbeddedStore;
use strata_store::testing::{TempDir, TestZk};
use strata_store::{Error, Store, Versioned};

/// A store under test and what keeps its data alive.
struct Harness {
    store: Arc<dyn Store>,
    place: Place,
}

enum Place {
    Embedded(TempDir),
    ZooKeeper(String),
}

impl Harness {
    async fn embedded() -> Option<Harness> {
        let dir = TempDir::new("strata-store-test").expect("temp dir");
        let store = EmbeddedStore::open_in(dir.path()).await.expect("open");
        Some(Harness {
            store: Arc::new(store),
            place: Place::Embedded(dir),
        })
    }

    async fn zookeeper() -> Option<Harness> {
        let zk = TestZk::shared_or_skip()?;
        let url = zk.unique_url();
        let backends = strata_store::open(Some(&url), std::path::Path::new("/nonexistent"))
            .await
            .expect("open zookeeper");
        Some(Harness {
            store: backends.store,
            place: Place::ZooKeeper(url),
        })
    }

    /// Drops the store and opens the same data again, as a restarted process would.
    async fn reopen(self) -> Harness {
        let Harness { store, place } = self;
        drop(store);
        let store: Arc<dyn Store> = match &place {
            Place::Embedded(dir) => {
                Arc::new(EmbeddedStore::open_in(dir.path()).await.expect("reopen"))
            }
            Place::ZooKeeper(url) => {
                strata_store::open(Some(url), std::path::Path::new("/nonexistent"))
                    .await
                    .expect("reopen")
                    .store
            }
        };
        Harness { store, place }
    }
}

fn bytes(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

#[track_caller]
fn assert_conflict(
    result: strata_store::Result<impl std::fmt::Debug>,
    key: &str,
    expected: Option<u64>,
    actual: Option<u64>,
) {
    match result {
        Err(Error::Conflict {
            key: k,
            expected: e,
            actual: a,
        }) => {
            assert_eq!(
                (k.as_str(), e, a),
                (key, expected, actual),
                "conflict fields"
            );
        }
        other => panic!("expected a conflict on {key}, got {other:?}"),
    }
}

/// The backend-independent checks. Each takes a fresh, empty store.
mod suite {
    use super::*;

    pub async fn get_put_versions(h: Harness) {
        let s = &h.store;
        assert_eq!(s.get("a/b").await.unwrap(), None);
        let v1 = s.put("a/b", bytes("one")).await.unwrap();
        assert_eq!((v1.version, v1.value.as_slice()), (1, &b"one"[..]));
        assert_eq!(v1.create_revision, v1.mod_revision);
        let v2 = s.put("a/b", bytes("two")).await.unwrap();
        assert_eq!(v2.version, 2);
        assert_eq!(v2.create_revision, v1.create_revision);
        assert!(v2.mod_revision > v1.mod_revision);
        assert_eq!(s.get("a/b").await.unwrap(), Some(v2));
        // An empty value is a value, not an absence.
        let empty = s.put("empty", Vec::new()).await.unwrap();
        assert_eq!(s.get("empty").await.unwrap(), Some(empty));
    }

    pub async fn create_only_cas(h: Harness) {
        let s = &h.store;
        let created = s.compare_and_swap("k", None, bytes("first")).await.unwrap();
        assert_eq!(created.version, 1);
        assert_conflict(
            s.compare_and_swap("k", None, bytes("second")).await,
            "k",
            None,
            Some(1),
        );
        assert_eq!(s.get("k").await.unwrap().unwrap().value, bytes("first"));
    }

    pub async fn cas_conflict_reports_actual_version(h: Harness) {
        let s = &h.store;
        for i in 0..3 {
            s.put("k", vec![i]).await.unwrap();
        }
        assert_conflict(
            s.compare_and_swap("k", Some(2), bytes("x")).await,
            "k",
            Some(2),
            Some(3),
        );
        let v4 = s.compare_and_swap("k", Some(3), bytes("x")).await.unwrap();
        assert_eq!((v4.version, v4.value), (4, bytes("x")));
        assert_conflict(
            s.compare_and_swap("missing", Some(1), bytes("x")).await,
            "missing",
            Some(1),
            None,
        );
        assert_eq!(s.get("missing").await.unwrap(), None);
        let err = s
            .compare_and_swap("k", Some(1), bytes("x"))
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("\"k\""),
            "message names the key: {err}"
        );
    }

    pub async fn delete_with_and_without_expected(h: Harness) {
        let s = &h.store;
        assert!(!s.delete("k", None).await.unwrap());
        assert_conflict(s.delete("k", Some(1)).await, "k", Some(1), None);
        let first = s.put("k", bytes("v")).await.unwrap();
        s.put("k", bytes("v2")).await.unwrap();
        assert_conflict(s.delete("k", Some(1)).await, "k", Some(1), Some(2));
        assert!(s.delete("k", Some(2)).await.unwrap());
        assert_eq!(s.get("k").await.unwrap(), None);
        // Created again: a new key, version 1, a new create revision.
        let again = s.put("k", bytes("v3")).await.unwrap();
        assert_eq!(again.version, 1);
        assert!(again.create_revision > first.create_revision);
        assert!(s.delete("k", None).await.unwrap());
        assert!(!s.delete("k", None).await.unwrap());
    }

    pub async fn list_by_prefix(h: Harness) {
        let s = &h.store;
        for key in [
            "app/b/c", "apple", "app/a", "other/x", "app/b", "ap", "app-x/y",
        ] {
            s.put(key, bytes(key)).await.unwrap();
        }
        let keys = |list: Vec<(String, Versioned)>| {
            for (k, v) in &list {
                assert_eq!(v.value, bytes(k), "value listed with {k}");
            }
            list.into_iter().map(|(k, _)| k).collect::<Vec<_>>()
        };
        assert_eq!(
            keys(s.list("app/").await.unwrap()),
            ["app/a", "app/b", "app/b/c"]
        );
        assert_eq!(
            keys(s.list("app").await.unwrap()),
            ["app-x/y", "app/a", "app/b", "app/b/c", "apple"]
        );
        assert_eq!(keys(s.list("app/b").await.unwrap()), ["app/b", "app/b/c"]);
        assert_eq!(
            keys(s.list("").await.unwrap()),
            ["ap", "app-x/y", "app/a", "app/b", "app/b/c", "apple", "other/x"]
        );
        assert!(s.list("zzz").await.unwrap().is_empty());
        assert!(s.list("nope/").await.unwrap().is_empty());
        // Prefixes no valid key can start with match nothing, without an error.
        assert!(s.list("app//").await.unwrap().is_empty());
        assert!(s.list("/app").await.unwrap().is_empty());
        // Listing agrees with get.
        for (k, v) in s.list("").await.unwrap() {
            assert_eq!(s.get(&k).await.unwrap(), Some(v));
        }
    }

    pub async fn nested_keys_are_independent(h: Harness) {
        let s = &h.store;
        s.put("a/b", bytes("child")).await.unwrap();
        assert_eq!(s.get("a").await.unwrap(), None);
        let parent = s
            .compare_and_swap("a", None, bytes("parent"))
            .await
            .unwrap();
        assert_eq!(parent.version, 1);
        assert_eq!(parent.create_revision, parent.mod_revision);
        let parent2 = s
            .compare_and_swap("a", Some(1), bytes("parent2"))
            .await
            .unwrap();
        assert_eq!(parent2.version, 2);
        assert_eq!(parent2.create_revision, parent.create_revision);
        assert!(s.delete("a", Some(2)).await.unwrap());
        assert_eq!(s.get("a").await.unwrap(), None);
        assert_eq!(s.get("a/b").await.unwrap().unwrap().value, bytes("child"));
        assert_eq!(s.put("a", bytes("again")).await.unwrap().version, 1);
        assert!(s.delete("a/b", None).await.unwrap());
        assert_eq!(s.get("a").await.unwrap().unwrap().value, bytes("again"));
        assert!(s.delete("a", None).await.unwrap());
        assert!(s.list("a").await.unwrap().is_empty());
        s.put("x/y/z", bytes("deep")).await.unwrap();
        assert!(s.delete("x/y/z", None).await.unwrap());
        assert!(s.list("").await.unwrap().is_empty());
    }

    pub async fn revision_increases_with_every_write(h: Harness) {
        let s = &h.store;
        assert_eq!(
            s.revision().await.unwrap(),
            0,
            "a fresh store is at revision 0"
        );
        let mut last = 0;
        fn check_write(v: &Versioned, last_rev: &mut u64) {
            assert!(
                v.mod_revision > *last_rev,
                "{} > {}",
                v.mod_revision,
                last_rev
            );
            *last_rev = v.mod_revision;
        }
        let a1 = s.put("a", bytes("1")).await.unwrap();
        check_write(&a1, &mut last);
        let r = s.revision().await.unwrap();
        assert!(r >= a1.mod_revision);
        last = r;
        let b1 = s.compare_and_swap("b", None, bytes("1")).await.unwrap();
        check_write(&b1, &mut last);
        let a2 = s.compare_and_swap("a", Some(1), bytes("2")).await.unwrap();
        check_write(&a2, &mut last);
        assert_eq!(a2.create_revision, a1.create_revision);
        assert_eq!(a1.create_revision, a1.mod_revision);
        let before_delete = s.revision().await.unwrap();
        assert!(before_delete >= a2.mod_revision);
        assert!(s.delete("b", None).await.unwrap());
        let after_delete = s.revision().await.unwrap();
        assert!(after_delete > before_delete, "a delete is a write");
        let a3 = s.put("a", bytes("3")).await.unwrap();
        assert!(a3.mod_revision > after_delete);
        // Failed writes write nothing.
        let before_failures = s.revision().await.unwrap();
        let _ = s
            .compare_and_swap("a", Some(1), bytes("x"))
            .await
            .unwrap_err();
        let _ = s.delete("a", Some(1)).await.unwrap_err();
        assert!(!s.delete("nothing", None).await.unwrap());
        let a4 = s.put("a", bytes("4")).await.unwrap();
        assert!(a4.mod_revision > before_failures);
        assert_eq!(a4.version, 4);
        // Reads report the revisions the writes returned.
        assert_eq!(s.get("a").await.unwrap(), Some(a4.clone()));
        assert_eq!(s.list("a").await.unwrap(), vec![("a".to_string(), a4)]);
    }

    pub async fn invalid_keys_and_values_are_rejected(h: Harness) {
        let s = &h.store;
        let long = "k".repeat(1025);
        for key in [
            "",
            "/a",
            "a/",
            "a//b",
            "a b",
            "a/../b",
            "ü",
            "a\nb",
            long.as_str(),
        ] {
            let is_invalid =
                |r: &strata_store::Result<_>| matches!(r, Err(Error::InvalidKey { .. }));
            assert!(is_invalid(&s.get(key).await.map(|_| ())), "get {key:?}");
            assert!(
                is_invalid(&s.put(key, bytes("v")).await.map(|_| ())),
                "put {key:?}"
            );
            assert!(
                is_invalid(&s.compare_and_swap(key, None, bytes("v")).await.map(|_| ())),
                "cas {key:?}"
            );
            assert!(
                is_invalid(&s.delete(key, None).await.map(|_| ())),
                "delete {key:?}"
            );
        }
        let err = s.put("a b", bytes("v")).await.unwrap_err().to_string();
        assert!(err.contains("\"a b\""), "the message names the key: {err}");
        let too_big = vec![0u8; strata_store::MAX_VALUE_LEN + 1];
        match s.put("big", too_big).await {
            Err(Error::ValueTooLarge { key, len }) => {
                assert_eq!(
                    (key.as_str(), len),
                    ("big", strata_store::MAX_VALUE_LEN + 1)
                )
            }
            other => panic!("expected ValueTooLarge, got {other:?}"),
        }
        assert_eq!(
            s.revision().await.unwrap(),
            0,
            "rejected input writes nothing"
        );
    }

    pub async fn values_up_to_one_mib(h: Harness) {
        let s = &h.store;
        let value: Vec<u8> = (0..strata_store::MAX_VALUE_LEN)
            .map(|i| (i * 31 % 251) as u8)
            .collect();
        let written = s.put("big/value", value.clone()).await.unwrap();
        assert_eq!(written.value.len(), value.len());
        let read = s.get("big/value").await.unwrap().unwrap();
        assert!(read.value == value, "1 MiB value read back intact");
        let swapped = s
            .compare_and_swap("big/value", Some(1), value.clone())
            .await
            .unwrap();
        assert_eq!(swapped.version, 2);
    }

    pub async fn concurrent_cas_loses_no_update(h: Harness) {
        const TASKS: u64 = 8;
        const INCREMENTS: u64 = 25;
        let s = h.store.clone();
        s.put("counter", bytes("0")).await.unwrap();
        let mut tasks = Vec::new();
        for _ in 0..TASKS {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                let mut conflicts = 0u64;
                for _ in 0..INCREMENTS {
                    loop {
                        let current = s.get("counter").await.unwrap().unwrap();
                        let n: u64 = String::from_utf8(current.value).unwrap().parse().unwrap();
                        match s
                            .compare_and_swap(
                                "counter",
                                Some(current.version),
                                (n + 1).to_string().into_bytes(),
                            )
                            .await
                        {
                            Ok(_) => break,
                            Err(Error::Conflict { .. }) => conflicts += 1,
                            Err(e) => panic!("increment failed: {e}"),
                        }
                    }
                }
                conflicts
            }));
        }
        let mut conflicts = 0;
        for task in tasks {
            conflicts += task.await.unwrap();
        }
        let end = s.get("counter").await.unwrap().unwrap();
        assert_eq!(end.value, (TASKS * INCREMENTS).to_string().into_bytes());
        assert_eq!(end.version, 1 + TASKS * INCREMENTS);
        println!(
            "{} increments, {conflicts} conflicts retried",
            TASKS * INCREMENTS
        );
    }

    pub async fn writes_survive_reopening(h: Harness) {
        let a = h.store.put("keep/a", bytes("1")).await.unwrap();
        h.store.put("keep/b", bytes("2")).await.unwrap();
        let b = h
            .store
            .compare_and_swap("keep/b", Some(1), bytes("3"))
            .await
            .unwrap();
        h.store.put("gone", bytes("x")).await.unwrap();
        assert!(h.store.delete("gone", None).await.unwrap());
        let revision = h.store.revision().await.unwrap();
        let h = h.reopen().await;
        assert_eq!(h.store.get("keep/a").await.unwrap(), Some(a));
        assert_eq!(h.store.get("keep/b").await.unwrap(), Some(b));
        assert_eq!(h.store.get("gone").await.unwrap(), None);
        assert!(h.store.revision().await.unwrap() >= revision);
        let next = h.store.put("keep/c", bytes("4")).await.unwrap();
        assert!(
            next.mod_revision > revision,
            "revisions keep growing after a restart"
        );
    }
}

macro_rules! conformance {
    ($backend:ident: $($test:ident),* $(,)?) => {
        mod $backend {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let Some(harness) = crate::Harness::$backend().await else { return };
                    crate::suite::$test(harness).await;
                }
            )*
        }
    };
}

macro_rules! both_backends {
    ($($test:ident),* $(,)?) => {
        conformance!(embedded: $($test),*);
        conformance!(zookeeper: $($test),*);
    };
}

both_backends!(
    get_put_versions,
    create_only_cas,
    cas_conflict_reports_actual_version,
    delete_with_and_without_expected,
    list_by_prefix,
    nested_keys_are_independent,
    revision_increases_with_every_write,
    invalid_keys_and_values_are_rejected,
    values_up_to_one_mib,
    concurrent_cas_loses_no_update,
    writes_survive_reopening,
);

// === embedded only ===

mod embedded_file {
    use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
    use std::path::Path;
    use std::process::{Command, Stdio};

    use super::*;

    const CHILD_ENV: &str = "STRATA_STORE_KILL9_CHILD";

    /// The child half of `kill_9_leaves_a_consistent_prefix`: writes forever, printing an
    /// acknowledgement after each pair of writes, until it is killed.
    async fn write_until_killed(path: &Path) -> ! {
        let store = EmbeddedStore::open(path).await.expect("child open");
        for i in 0u64.. {
            store
                .put(&format!("kill9/k{i:08}"), i.to_string().into_bytes())
                .await
                .unwrap();
            store
                .put("kill9-last", i.to_string().into_bytes())
                .await
                .unwrap();
            println!("ack {i}");
            std::io::stdout().flush().unwrap();
        }
        unreachable!()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn kill_9_leaves_a_consistent_prefix() {
        if let Ok(path) = std::env::var(CHILD_ENV) {
            write_until_killed(Path::new(&path)).await;
        }
        // Kill at a few different moments after the last acknowledgement read.
        for delay_us in [0, 700, 2300, 5100] {
            kill_writer_and_check(delay_us).await;
        }
    }

    async fn kill_writer_and_check(delay_us: u64) {
        let dir = TempDir::new("strata-store-kill9").unwrap();
        let path = dir.path().join("store.redb");
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "embedded_file::kill_9_leaves_a_consistent_prefix",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let acked = tokio::task::spawn_blocking(move || {
            let mut last = None;
            for line in BufReader::new(stdout).lines() {
                let line = line.unwrap();
                if let Some(i) = line.strip_prefix("ack ") {
                    let i: u64 = i.parse().unwrap();
                    last = Some(i);
                    if i >= 60 {
                        break;
                    }
                }
            }
            last
        });
        let acked = tokio::time::timeout(Duration::from_secs(120), acked)
            .await
            .expect("child wrote 60 pairs in time")
            .unwrap()
            .expect("child acknowledged writes");
        std::thread::sleep(Duration::from_micros(delay_us));
        child.kill().unwrap(); // SIGKILL, while it writes
        child.wait().unwrap();

        let store = EmbeddedStore::open(&path)
            .await
            .expect("a killed writer leaves an openable store");
        let keys = store.list("kill9/").await.unwrap();
        assert!(
            keys.len() as u64 > acked,
            "every acknowledged write is there: {} keys, ack {acked}",
            keys.len()
        );
        for (i, (key, v)) in keys.iter().enumerate() {
            assert_eq!(key, &format!("kill9/k{i:08}"), "no gap in the written keys");
            assert_eq!(v.value, i.to_string().into_bytes());
            assert_eq!(v.version, 1);
        }
        let n = keys.len() as u64;
        let last = store.get("kill9-last").await.unwrap().unwrap();
        let last_i: u64 = String::from_utf8(last.value).unwrap().parse().unwrap();
        assert!(
            last_i == n - 1 || last_i + 2 == n,
            "kill9-last={last_i} with {n} keys: a prefix of the writes"
        );
        assert_eq!(last.version, last_i + 1);
        // Exactly the writes of that prefix were counted.
        assert_eq!(store.revision().await.unwrap(), n + last.version);
        println!("killed {delay_us}us after ack {acked}; found {n} keys, kill9-last={last_i}");
    }

    async fn populated_store(dir: &TempDir) -> std::path::PathBuf {
        let store = EmbeddedStore::open_in(dir.path()).await.unwrap();
        for i in 0..200 {
            store
                .put(&format!("obj/{i:04}"), vec![b'x'; 2000])
                .await
                .unwrap();
        }
        let path = store.path().to_path_buf();
        drop(store);
        path
    }

    #[track_caller]
    fn assert_corrupt(result: strata_store::Result<EmbeddedStore>, path: &Path, what: &str) {
        match result {
            Err(e @ Error::Corrupt { .. }) => {
                let message = e.to_string();
                assert!(
                    message.contains(&path.display().to_string()),
                    "{what}: the error names the file: {message}"
                );
                println!("{what}: {message}");
            }
            Err(other) => panic!("{what}: expected Corrupt, got {other}"),
            Ok(_) => panic!("{what}: a damaged store file opened"),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn truncated_file_is_reported_with_its_path() {
        let dir = TempDir::new("strata-store-truncated").unwrap();
        let path = populated_store(&dir).await;
        let len = std::fs::metadata(&path).unwrap().len();
        for keep in [len / 2, 4096, 100] {
            std::fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .unwrap()
                .set_len(keep)
                .unwrap();
            assert_corrupt(
                EmbeddedStore::open(&path).await,
                &path,
                &format!("truncated to {keep} bytes"),
            );
        }
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(0)
            .unwrap();
        assert_corrupt(
            EmbeddedStore::open(&path).await,
            &path,
            "truncated to 0 bytes",
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn corrupted_file_is_reported_with_its_path() {
        let dir = TempDir::new("strata-store-corrupt").unwrap();
        let path = populated_store(&dir).await;
        let pristine = std::fs::read(&path).unwrap();

        // Garbage over the data pages.
        let mut file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.seek(SeekFrom::Start(pristine.len() as u64 / 3))
            .unwrap();
        file.write_all(&vec![0xA5; pristine.len() / 3]).unwrap();
        drop(file);
        assert_corrupt(
            EmbeddedStore::open(&path).await,
            &path,
            "garbage over the data",
        );

        // Garbage over the header.
        std::fs::write(&path, &pristine).unwrap();
        let mut file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.write_all(&[0x5A; 64]).unwrap();
        drop(file);
        assert_corrupt(
            EmbeddedStore::open(&path).await,
            &path,
            "garbage over the header",
        );

        // Not a store at all.
        std::fs::write(&path, b"{\"hello\": \"world\"}\n").unwrap();
        assert_corrupt(EmbeddedStore::open(&path).await, &path, "a text file");

        // The pristine bytes still open: the checks are not just failing everything.
        std::fs::write(&path, &pristine).unwrap();
        let store = EmbeddedStore::open(&path).await.unwrap();
        assert_eq!(store.list("obj/").await.unwrap().len(), 200);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_second_open_of_the_same_file_is_refused() {
        let dir = TempDir::new("strata-store-locked").unwrap();
        let first = EmbeddedStore::open_in(dir.path()).await.unwrap();
        let err = EmbeddedStore::open_in(dir.path()).await.unwrap_err();
        assert!(
            err.to_string()
                .contains(&first.path().display().to_string()),
            "{err}"
        );
        drop(first);
        EmbeddedStore::open_in(dir.path())
            .await
            .expect("open once the first is closed");
    }
}

mod embedded_election {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn campaign_wins_at_once_and_the_detector_follows() {
        let dir = TempDir::new("strata-store-local").unwrap();
        let backends = strata_store::open(None, &dir.path().join("work"))
            .await
            .unwrap();
        assert!(dir.path().join("work").join("store.redb").is_file());
        let mut leader = backends.detector.leader();
        assert_eq!(*leader.borrow(), None);
        let first = tokio::time::timeout(
            Duration::from_secs(5),
            backends.election.campaign(bytes("{\"id\":\"a\"}")),
        )
        .await
        .expect("single node: a campaign wins at once")
        .unwrap();
        leader
            .wait_for(|l| l.as_deref() == Some(&b"{\"id\":\"a\"}"[..]))
            .await
            .unwrap();

        // A second contender waits for the first to resign.
        let election = backends.election.clone();
        let second = tokio::spawn(async move { election.campaign(bytes("{\"id\":\"b\"}")).await });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!second.is_finished());
        tokio::select! {
            _ = first.lost() => panic!("embedded leadership is never lost"),
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
        first.resign();
        let _second = tokio::time::timeout(Duration::from_secs(5), second)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        leader
            .wait_for(|l| l.as_deref() == Some(&b"{\"id\":\"b\"}"[..]))
            .await
            .unwrap();
    }
}

mod open_urls {
    use super::*;

    #[tokio::test]
    async fn bad_urls_are_rejected_naming_the_url() {
        let dir = TempDir::new("strata-store-urls").unwrap();
        for url in [
            "http://127.0.0.1:2181/x",
            "zk://127.0.0.1:2181",
            "zk://127.0.0.1:2181/",
            "zk:/h/x",
            "zk://h:99999/x",
        ] {
            match strata_store::open(Some(url), dir.path()).await {
                Err(e @ Error::InvalidUrl { .. }) => assert!(e.to_string().contains(url), "{e}"),
                Err(other) => panic!("{url}: expected InvalidUrl, got {other}"),
                Ok(_) => panic!("{url}: accepted"),
            }
            assert!(
                matches!(
                    strata_store::detector(url).await,
                    Err(Error::InvalidUrl { .. })
                ),
                "{url}"
            );
        }
    }

    /// Nothing listens on the port: open fails within the operation timeout, and a detector
    /// reports no leader instead of hanging.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn unreachable_zookeeper_fails_fast() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("zk://127.0.0.1:{port}/strata");
        let options = strata_store::ZkOptions {
            session_timeout: Duration::from_secs(4),
            operation_timeout: Duration::from_secs(1),
        };
        let started = tokio::time::Instant::now();
        match strata_store::open_with(Some(&url), std::path::Path::new("/nonexistent"), options)
            .await
        {
            Err(e @ Error::Unavailable(_)) => {
                assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}")
            }
            Err(other) => panic!("expected Unavailable, got {other}"),
            Ok(_) => panic!("opened a zookeeper nobody runs"),
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "took {:?}",
            started.elapsed()
        );
        let detector = strata_store::detector_with(&url, options).await.unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(*detector.leader().borrow(), None);
    }
}

// === ZooKeeper only ===

mod zookeeper_election {
    use super::*;
    use strata_store::testing::TestZk;

    /// The children of `path` and their data, read with a plain client.
    async fn znodes(servers: &str, path: &str) -> Vec<(String, Vec<u8>, bool)> {
        let zk = zookeeper_async::ZooKeeper::connect(
            servers,
            Duration::from_secs(10),
            |_: zookeeper_async::WatchedEvent| {},
        )
        .await
        .unwrap();
        let mut out = Vec::new();
        let mut children = zk.get_children(path, false).await.unwrap();
        children.sort();
        for child in children {
            let (data, stat) = zk
                .get_data(&format!("{path}/{child}"), false)
                .await
                .unwrap();
            out.push((child, data, stat.is_ephemeral()));
        }
        zk.close().await.unwrap();
        out
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_contenders_fail_over_and_detectors_follow() {
        let Some(zk) = TestZk::shared_or_skip() else {
            return;
        };
        let path = format!("/{}", strata_store::testing::unique_name("election"));
        let url = zk.url_with_path(&path);
        let nowhere = std::path::Path::new("/nonexistent");
        let a = strata_store::open(Some(&url), nowhere).await.unwrap();
        let b = strata_store::open(Some(&url), nowhere).await.unwrap();
        let follower = strata_store::detector(&url).await.unwrap();
        let mut seen = follower.leader();

        let info_a = br#"{"id":"a","address":{"ip":"127.0.0.1","port":5050}}"#.to_vec();
        let info_b = br#"{"id":"b","address":{"ip":"127.0.0.1","port":5051}}"#.to_vec();
        let leading_a =
            tokio::time::timeout(Duration::from_secs(10), a.election.campaign(info_a.clone()))
                .await
                .expect("the first contender leads at once")
                .unwrap();
        let election_b = b.election.clone();
        let info = info_b.clone();
        let campaign_b = tokio::spawn(async move { election_b.campaign(info).await });
        tokio::time::timeout(
            Duration::from_secs(10),
            seen.wait_for(|l| l.as_ref() == Some(&info_a)),
        )
        .await
        .expect("the detector sees the first leader")
        .unwrap();
        // The shared detector of each process agrees.
        let mut seen_by_b = b.detector.leader();
        tokio::time::timeout(
            Duration::from_secs(10),
            seen_by_b.wait_for(|l| l.as_ref() == Some(&info_a)),
        )
        .await
        .unwrap()
        .unwrap();

        // Mesos's layout: ephemeral json.info_<10 digits> znodes holding the info, the
        // leader's the lowest.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!campaign_b.is_finished(), "the second contender waits");
        let nodes: Vec<_> = znodes(&zk.servers, &path)
            .await
            .into_iter()
            .filter(|(name, ..)| name.starts_with("json.info_"))
            .collect();
        assert_eq!(nodes.len(), 2, "{nodes:?}");
        for (name, _, ephemeral) in &nodes {
            let digits = &name["json.info_".len()..];
            assert!(
                digits.len() == 10 && digits.bytes().all(|b| b.is_ascii_digit()),
                "{name}"
            );
            assert!(ephemeral, "{name} is ephemeral");
        }
        assert_eq!(nodes[0].1, info_a);
        assert_eq!(nodes[1].1, info_b);

        // The leader resigns: the second contender leads and the detectors switch.
        let started = tokio::time::Instant::now();
        leading_a.resign();
        let leading_b = tokio::time::timeout(Duration::from_secs(10), campaign_b)
            .await
            .expect("the second contender leads after the first resigns")
            .unwrap()
            .unwrap();
        tokio::time::timeout(
            Duration::from_secs(10),
            seen.wait_for(|l| l.as_ref() == Some(&info_b)),
        )
        .await
        .expect("the detector switches")
        .unwrap();
        println!("failover after resign: {:?}", started.elapsed());

        // Dropping the process's backends ends its session: no leader is left.
        drop(leading_b);
        drop(b);
        tokio::time::timeout(Duration::from_secs(10), seen.wait_for(|l| l.is_none()))
            .await
            .expect("no leader after the last one resigns")
            .unwrap();

        // A campaign abandoned before it wins leaves no znode behind.
        let leading_a = a.election.campaign(info_a.clone()).await.unwrap();
        let pending = tokio::time::timeout(
            Duration::from_millis(500),
            a.election.campaign(info_b.clone()),
        )
        .await;
        assert!(
            pending.is_err(),
            "a second contender cannot lead while the first does"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        let left: Vec<_> = znodes(&zk.servers, &path)
            .await
            .into_iter()
            .filter(|(name, ..)| name.starts_with("json.info_"))
            .collect();
        assert_eq!(left.len(), 1, "the dropped campaign withdrew: {left:?}");
        drop(leading_a);
    }
}

mod zookeeper_outage {
    use super::*;
    use strata_store::testing::TestZk;
    use strata_store::ZkOptions;

    const OPTIONS: ZkOptions = ZkOptions {
        session_timeout: Duration::from_secs(4),
        operation_timeout: Duration::from_secs(2),
    };

    /// Retries `campaign` until it wins (ZooKeeper may still be coming back).
    async fn campaign_until_elected(
        election: &Arc<dyn strata_store::LeaderElection>,
        info: &[u8],
    ) -> strata_store::Leadership {
        loop {
            match election.campaign(info.to_vec()).await {
                Ok(leadership) => return leadership,
                Err(Error::Unavailable(e)) => {
                    println!("campaign: {e}; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => panic!("campaign: {e}"),
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn session_loss_steps_down_fails_calls_and_recovers() {
        let Some(mut zk) = TestZk::start_or_skip() else {
            return;
        };
        let url = zk.unique_url();
        let nowhere = std::path::Path::new("/nonexistent");
        let backends = strata_store::open_with(Some(&url), nowhere, OPTIONS)
            .await
            .unwrap();
        let follower = strata_store::detector_with(&url, OPTIONS).await.unwrap();
        let mut seen = follower.leader();
        let info = br#"{"id":"m1"}"#.to_vec();
        let leadership = tokio::time::timeout(
            Duration::from_secs(10),
            backends.election.campaign(info.clone()),
        )
        .await
        .unwrap()
        .unwrap();
        backends.store.put("state/k", bytes("v")).await.unwrap();
        tokio::time::timeout(
            Duration::from_secs(10),
            seen.wait_for(|l| l.as_ref() == Some(&info)),
        )
        .await
        .unwrap()
        .unwrap();

        let leadership = Arc::new(leadership);
        let lost_at = tokio::spawn({
            let leadership = leadership.clone();
            async move {
                leadership.lost().await;
                tokio::time::Instant::now()
            }
        });

        // ZooKeeper dies.
        zk.stop();
        let stopped = tokio::time::Instant::now();

        // Calls fail with Unavailable within the operation timeout, never hang.
        for attempt in 0..2 {
            let call = tokio::time::Instant::now();
            let got = tokio::time::timeout(Duration::from_secs(10), backends.store.get("state/k"))
                .await
                .expect("get returns");
            assert!(
                matches!(got, Err(Error::Unavailable(_))),
                "get during the outage: {got:?}"
            );
            let put = tokio::time::timeout(
                Duration::from_secs(10),
                backends.store.put("state/k", bytes("w")),
            )
            .await
            .expect("put returns");
            assert!(
                matches!(put, Err(Error::Unavailable(_))),
                "put during the outage: {put:?}"
            );
            assert!(
                call.elapsed() < Duration::from_secs(6),
                "attempt {attempt}: {:?}",
                call.elapsed()
            );
        }

        // Leadership is lost once ZooKeeper has been silent for 2/3 of the session timeout.
        let lost_at = tokio::time::timeout(Duration::from_secs(15), lost_at)
            .await
            .expect("leadership lost within the session timeout (plus slack)")
            .unwrap();
        let lost_after = lost_at.duration_since(stopped);
        assert!(
            lost_after <= OPTIONS.session_timeout,
            "leadership is given up before zookeeper could expire the session: {lost_after:?}"
        );
        println!("leadership lost {lost_after:?} after zookeeper died");
        let campaign = tokio::time::timeout(
            Duration::from_secs(10),
            backends.election.campaign(info.clone()),
        )
        .await
        .expect("campaign returns during the outage");
        assert!(
            matches!(campaign, Err(Error::Unavailable(_))),
            "{campaign:?}"
        );
        tokio::time::timeout(Duration::from_secs(15), seen.wait_for(|l| l.is_none()))
            .await
            .expect("detectors report no leader once their session is lost")
            .unwrap();
        drop(leadership);

        // ZooKeeper returns with its data: a new campaign wins, detectors see it, the
        // data is still there, and the old session's znode is gone.
        zk.restart().unwrap();
        let info2 = br#"{"id":"m1","term":2}"#.to_vec();
        let leadership = tokio::time::timeout(
            Duration::from_secs(30),
            campaign_until_elected(&backends.election, &info2),
        )
        .await
        .expect("elected again after zookeeper returns");
        tokio::time::timeout(
            Duration::from_secs(20),
            seen.wait_for(|l| l.as_ref() == Some(&info2)),
        )
        .await
        .expect("the detector follows the new leader")
        .unwrap();
        assert_eq!(
            backends.store.get("state/k").await.unwrap().unwrap().value,
            bytes("v")
        );
        backends.store.put("state/k", bytes("after")).await.unwrap();
        let _ = leadership;
    }
}

mod zookeeper_partition {
    use std::sync::atomic::{AtomicBool, Ordering};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::watch;

    use super::*;
    use strata_store::testing::TestZk;
    use strata_store::ZkOptions;

    const OPTIONS: ZkOptions = ZkOptions {
        session_timeout: Duration::from_secs(4),
        operation_timeout: Duration::from_secs(2),
    };

    /// A TCP proxy to ZooKeeper that can go silent (a network partition: connections stay
    /// open, no byte gets through either way) and heal.
    struct Proxy {
        port: u16,
        silent: watch::Sender<bool>,
        task: tokio::task::JoinHandle<()>,
    }

    impl Proxy {
        async fn start(upstream: u16) -> Proxy {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let port = listener.local_addr().unwrap().port();
            let (silent, _) = watch::channel(false);
            let gate = silent.clone();
            let task = tokio::spawn(async move {
                while let Ok((client, _)) = listener.accept().await {
                    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                        continue;
                    };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::spawn(pipe(client_read, server_write, gate.subscribe()));
                    tokio::spawn(pipe(server_read, client_write, gate.subscribe()));
                }
            });
            Proxy { port, silent, task }
        }

        fn partition(&self) {
            self.silent.send_replace(true);
        }

        fn heal(&self) {
            self.silent.send_replace(false);
        }
    }

    impl Drop for Proxy {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    async fn pipe(
        mut from: tokio::net::tcp::OwnedReadHalf,
        mut to: tokio::net::tcp::OwnedWriteHalf,
        mut silent: watch::Receiver<bool>,
    ) {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            if silent.wait_for(|s| !*s).await.is_err() {
                return;
            }
            let n = tokio::select! {
                n = from.read(&mut buf) => match n { Ok(0) | Err(_) => return, Ok(n) => n },
                _ = silent.wait_for(|s| *s) => continue,
            };
            // Bytes read as the partition starts are held back until it heals.
            if silent.wait_for(|s| !*s).await.is_err() || to.write_all(&buf[..n]).await.is_err() {
                return;
            }
        }
    }

    /// The leader reaches ZooKeeper through the proxy, its rival directly. A short silence
    /// keeps leadership; a long one makes the leader step down before the rival is elected.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_partitioned_leader_steps_down_before_anyone_else_leads() {
        let Some(zk) = TestZk::shared_or_skip() else {
            return;
        };
        let proxy = Proxy::start(zk.port).await;
        let path = format!("/{}", strata_store::testing::unique_name("partition"));
        let through_proxy = format!("zk://127.0.0.1:{}{path}", proxy.port);
        let direct = zk.url_with_path(&path);
        let nowhere = std::path::Path::new("/nonexistent");
        let a = strata_store::open_with(Some(&through_proxy), nowhere, OPTIONS)
            .await
            .unwrap();
        let b = strata_store::open_with(Some(&direct), nowhere, OPTIONS)
            .await
            .unwrap();
        let leading_a = Arc::new(a.election.campaign(bytes("{\"id\":\"a\"}")).await.unwrap());
        let a_lost = Arc::new(AtomicBool::new(false));
        let lost_at = tokio::spawn({
            let (leading_a, a_lost) = (leading_a.clone(), a_lost.clone());
            async move {
                leading_a.lost().await;
                a_lost.store(true, Ordering::SeqCst);
                tokio::time::Instant::now()
            }
        });
        let election_b = b.election.clone();
        let b_elected_at = tokio::spawn(async move {
            let leadership = election_b.campaign(bytes("{\"id\":\"b\"}")).await.unwrap();
            (tokio::time::Instant::now(), leadership)
        });

        // A blip shorter than the grace period changes nothing.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        proxy.partition();
        tokio::time::sleep(Duration::from_millis(600)).await;
        proxy.heal();
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(
            !a_lost.load(Ordering::SeqCst),
            "a short blip does not cost leadership"
        );
        assert!(!b_elected_at.is_finished(), "nor elect the rival");
        a.store
            .put("blip/ok", bytes("1"))
            .await
            .expect("the store works after a short blip");

        // A long partition: the leader gives up first, then ZooKeeper expires its session
        // and the rival is elected.
        let partitioned = tokio::time::Instant::now();
        proxy.partition();
        let lost_at = tokio::time::timeout(Duration::from_secs(15), lost_at)
            .await
            .expect("leader steps down")
            .unwrap();
        let (elected_at, leading_b) = tokio::time::timeout(Duration::from_secs(20), b_elected_at)
            .await
            .expect("the rival is elected once the partitioned session expires")
            .unwrap();
        println!(
            "partitioned leader stepped down after {:?}; rival elected after {:?}",
            lost_at.duration_since(partitioned),
            elected_at.duration_since(partitioned)
        );
        assert!(
            lost_at < elected_at,
            "the old leader stepped down before the new one was elected"
        );
        let got = tokio::time::timeout(Duration::from_secs(10), a.store.get("blip/ok"))
            .await
            .unwrap();
        assert!(matches!(got, Err(Error::Unavailable(_))), "{got:?}");

        // The partition heals: the old leader works again, behind the new one.
        proxy.heal();
        let mut ok = false;
        for _ in 0..40 {
            if let Ok(Some(v)) = a.store.get("blip/ok").await {
                assert_eq!(v.value, bytes("1"));
                ok = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        assert!(ok, "the store works again after the partition heals");
        let mut seen = b.detector.leader();
        tokio::time::timeout(
            Duration::from_secs(10),
            seen.wait_for(|l| l.as_deref() == Some(&b"{\"id\":\"b\"}"[..])),
        )
        .await
        .unwrap()
        .unwrap();
        let again = tokio::time::timeout(
            Duration::from_secs(2),
            a.election.campaign(bytes("{\"id\":\"a\"}")),
        )
        .await;
        assert!(again.is_err(), "the old leader waits behind the new one");
        drop(leading_b);
    }
}

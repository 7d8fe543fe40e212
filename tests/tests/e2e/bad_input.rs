//! Bad input to `POST /api/v1/scheduler` gets a clear 4xx, and the master stays up.
//!
//! The checks run against one master and are all reported together, so one run shows every
//! contract the master misses.

use strata_tests::http::{self, Response};
use strata_tests::TestCluster;

const SCHEDULER: &str = "/api/v1/scheduler";

struct Check<'a> {
    name: &'a str,
    response: std::io::Result<Response>,
    status: u16,
    /// The body must contain one of these (lower-cased) if non-empty.
    mentions: &'a [&'a str],
}

fn verdict(check: &Check) -> Option<String> {
    let response = match &check.response {
        Ok(r) => r,
        Err(e) => return Some(format!("{}: request failed: {e}", check.name)),
    };
    let body = response.text();
    if response.status != check.status {
        return Some(format!(
            "{}: expected HTTP {}, got {}: {body:?}",
            check.name, check.status, response.status
        ));
    }
    let lower = body.to_lowercase();
    if !check.mentions.is_empty() && !check.mentions.iter().any(|m| lower.contains(m)) {
        return Some(format!(
            "{}: HTTP {} as expected, but the message should name the problem (one of {:?}): {body:?}",
            check.name, response.status, check.mentions
        ));
    }
    None
}

#[test]
fn scheduler_api_rejects_bad_input_with_clear_errors() {
    let mut cluster = TestCluster::start(0);
    let addr = cluster.master_addr();
    let decline = br#"{"type":"DECLINE","framework_id":{"value":"no-such-framework"},"decline":{"offer_ids":[{"value":"o"}]}}"#;

    // 16 MiB and a bit, as one (otherwise valid-looking) JSON document.
    let mut huge =
        br#"{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"u","name":""#.to_vec();
    huge.resize(huge.len() + 16 * 1024 * 1024 + 1024, b'x');
    huge.extend_from_slice(br#""}}}"#);

    let checks = [
        Check {
            name: "malformed JSON",
            response: http::post_json(
                &addr,
                SCHEDULER,
                &[],
                br#"{"type": "SUBSCRIBE", "subscribe": "#,
            ),
            status: 400,
            mentions: &["json", "parse", "expected", "eof", "invalid"],
        },
        Check {
            name: "JSON without `type`",
            response: http::post_json(&addr, SCHEDULER, &[], br#"{"framework_id":{"value":"f"}}"#),
            status: 400,
            mentions: &["type"],
        },
        Check {
            name: "SUBSCRIBE without `subscribe`",
            response: http::post_json(&addr, SCHEDULER, &[], br#"{"type":"SUBSCRIBE"}"#),
            status: 400,
            mentions: &["subscribe", "framework_info"],
        },
        Check {
            name: "non-SUBSCRIBE call without Mesos-Stream-Id",
            response: http::post_json(&addr, SCHEDULER, &[], decline),
            status: 400,
            mentions: &["stream"],
        },
        Check {
            name: "call with an unknown Mesos-Stream-Id",
            response: http::post_json(
                &addr,
                SCHEDULER,
                &[("Mesos-Stream-Id", "6f1c2d3e-0000-4000-8000-000000000000")],
                decline,
            ),
            status: 403,
            mentions: &[],
        },
        Check {
            name: "body over 16 MiB",
            response: http::post_json(&addr, SCHEDULER, &[], &huge),
            status: 413,
            mentions: &[],
        },
    ];
    let failures: Vec<String> = checks.iter().filter_map(verdict).collect();

    // None of that may have hurt the master.
    let health = http::get(&addr, "/health").map(|r| r.status);
    cluster.check_alive();
    assert!(
        matches!(health, Ok(200)),
        "master unhealthy after bad input: {health:?}"
    );
    cluster.master_state();

    assert!(
        failures.is_empty(),
        "{} of {} bad-input checks failed:\n  {}",
        failures.len(),
        checks.len(),
        failures.join("\n  ")
    );
}

//! The Strata web UI: a small single-page application in plain HTML, CSS and
//! JavaScript, embedded in the binary and served by the master at `/` (the
//! page) and `/ui/...` (its assets).
//!
//! This crate owns the files and how they are served (content types, cache
//! headers, ETags); it owns no data. The pages read the master's public
//! operator API from the browser: the event stream `GET /api/v1/events`
//! (server-sent events) and the paginated views under `/api/v1/ui/...`. It
//! depends on nothing of the master (the master depends on it), and building
//! it needs nothing beyond cargo: there is no JavaScript toolchain.
//!
//! Caching: `index.html` names each asset with a content hash
//! (`/ui/app.js?v=<hash>`); a request carrying the current hash is answered
//! as immutable for a year, anything else must revalidate (`no-cache` and an
//! `ETag`), so a new binary is picked up at the next page load.

use std::sync::OnceLock;

use axum::body::Body;
use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// One embedded file.
struct Asset {
    /// Its name under `/ui/`.
    name: &'static str,
    /// The `Content-Type` it is served with.
    content_type: &'static str,
    /// Its bytes.
    body: &'static [u8],
}

/// Every file under `/ui/`.
const ASSETS: &[Asset] = &[
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../assets/app.js"),
    },
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../assets/app.css"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../assets/favicon.svg"),
    },
];

/// The page, with `{{name}}` where an asset's versioned URL goes.
const INDEX_TEMPLATE: &str = include_str!("../assets/index.html");

/// Scripts and styles come from this origin only; the pages set styles
/// through the CSSOM, never through inline `style` attributes.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
     base-uri 'none'; form-action 'self'";

/// A year: versioned assets never change under the same URL.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Unversioned requests and the page itself: always revalidate.
const REVALIDATE: &str = "no-cache";

/// The UI's routes: the page at `/` (and `/ui`, `/ui/`) and its assets under
/// `/ui/`. Stateless, so it merges into any router.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/ui", get(index))
        .route("/ui/", get(index))
        .route("/ui/{*name}", get(asset))
}

/// FNV-1a, 64 bits: a stable content hash without a dependency.
fn content_hash(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Each asset's hash, in the order of [`ASSETS`].
fn hashes() -> &'static [String] {
    static HASHES: OnceLock<Vec<String>> = OnceLock::new();
    HASHES.get_or_init(|| ASSETS.iter().map(|a| content_hash(a.body)).collect())
}

/// `index.html` with versioned asset URLs, and its own hash.
fn index_page() -> &'static (String, String) {
    static PAGE: OnceLock<(String, String)> = OnceLock::new();
    PAGE.get_or_init(|| {
        let mut page = INDEX_TEMPLATE.to_owned();
        for (a, h) in ASSETS.iter().zip(hashes()) {
            page = page.replace(
                &format!("{{{{{}}}}}", a.name),
                &format!("/ui/{}?v={h}", a.name),
            );
        }
        let hash = content_hash(page.as_bytes());
        (page, hash)
    })
}

/// True when `If-None-Match` names `etag` (or `*`).
fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == etag)
}

fn respond(
    headers: &HeaderMap,
    content_type: &'static str,
    body: Body,
    hash: &str,
    cache: &'static str,
) -> Response {
    let etag = format!("\"{hash}\"");
    let mut resp = if not_modified(headers, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = Response::new(body);
        r.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        r
    };
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    resp
}

async fn index(headers: HeaderMap) -> Response {
    let (page, hash) = index_page();
    let mut resp = respond(
        &headers,
        "text/html; charset=utf-8",
        Body::from(page.as_str()),
        hash,
        REVALIDATE,
    );
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    resp
}

async fn asset(Path(name): Path<String>, uri: Uri, headers: HeaderMap) -> Response {
    let Some((i, a)) = ASSETS.iter().enumerate().find(|(_, a)| a.name == name) else {
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("no UI asset {name:?}"),
        )
            .into_response();
    };
    let hash = &hashes()[i];
    let versioned = uri
        .query()
        .unwrap_or("")
        .split('&')
        .any(|kv| kv.strip_prefix("v=") == Some(hash.as_str()));
    let cache = if versioned { IMMUTABLE } else { REVALIDATE };
    respond(&headers, a.content_type, Body::from(a.body), hash, cache)
}

#[cfg(test)]
mod tests {
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    async fn get(path: &str, extra: &[(&str, &str)]) -> (StatusCode, HeaderMap, String) {
        let mut req = Request::get(path);
        for (k, v) in extra {
            req = req.header(*k, *v);
        }
        let resp = router::<()>()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        (status, headers, String::from_utf8_lossy(&body).into_owned())
    }

    fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
        h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    #[tokio::test]
    async fn the_page_names_versioned_assets_and_is_revalidated() {
        let (status, h, body) = get("/", &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(header(&h, "content-type"), "text/html; charset=utf-8");
        assert_eq!(header(&h, "cache-control"), "no-cache");
        assert!(header(&h, "content-security-policy").contains("script-src 'self'"));
        assert!(
            !body.contains("{{"),
            "every placeholder is replaced: {body}"
        );
        for (a, hash) in ASSETS.iter().zip(hashes()) {
            let url = format!("/ui/{}?v={hash}", a.name);
            assert!(body.contains(&url), "{url} is linked from the page");
        }
        let (status, _, again) = get("/ui/", &[]).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(again, body);
    }

    #[tokio::test]
    async fn assets_have_their_content_types_and_cache_headers() {
        let cases = [
            ("app.js", "text/javascript; charset=utf-8"),
            ("app.css", "text/css; charset=utf-8"),
            ("favicon.svg", "image/svg+xml"),
        ];
        for (i, (name, content_type)) in cases.into_iter().enumerate() {
            let hash = &hashes()[i];
            let (status, h, body) = get(&format!("/ui/{name}?v={hash}"), &[]).await;
            assert_eq!(status, StatusCode::OK, "{name}");
            assert_eq!(header(&h, "content-type"), content_type, "{name}");
            assert_eq!(header(&h, "cache-control"), IMMUTABLE, "{name}");
            assert_eq!(header(&h, "x-content-type-options"), "nosniff");
            assert!(!body.is_empty());
            // A stale or missing version must revalidate.
            let (_, h, _) = get(&format!("/ui/{name}?v=0000"), &[]).await;
            assert_eq!(header(&h, "cache-control"), REVALIDATE, "{name}");
            let (_, h, _) = get(&format!("/ui/{name}"), &[]).await;
            assert_eq!(header(&h, "cache-control"), REVALIDATE, "{name}");
        }
    }

    #[tokio::test]
    async fn etags_answer_not_modified() {
        let (_, h, _) = get("/ui/app.css", &[]).await;
        let etag = header(&h, "etag").to_owned();
        assert!(etag.starts_with('"') && etag.len() == 18, "{etag}");
        let (status, h, body) = get("/ui/app.css", &[("if-none-match", &etag)]).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED);
        assert!(body.is_empty());
        assert_eq!(header(&h, "etag"), etag);
        let (status, _, _) = get("/ui/app.css", &[("if-none-match", "\"other\"")]).await;
        assert_eq!(status, StatusCode::OK);
        let (_, h, _) = get("/", &[]).await;
        let page_etag = header(&h, "etag").to_owned();
        let (status, _, _) = get("/", &[("if-none-match", &format!("W/{page_etag}"))]).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED);
    }

    #[tokio::test]
    async fn unknown_assets_are_404() {
        let (status, h, body) = get("/ui/nope.js", &[]).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(header(&h, "content-type"), "text/plain; charset=utf-8");
        assert!(body.contains("nope.js"), "{body}");
        let (status, _, _) = get("/ui/../Cargo.toml", &[]).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    #[test]
    fn the_script_uses_no_inline_styles_the_policy_would_block() {
        // The CSP has no 'unsafe-inline': markup built as strings must not carry style="...".
        let js = std::str::from_utf8(ASSETS[0].body).unwrap();
        assert!(!js.contains("style=\""), "use el.style (CSSOM) instead");
        assert!(!INDEX_TEMPLATE.contains("style=\""));
        assert!(!INDEX_TEMPLATE.contains("<script>"), "no inline scripts");
    }
}

//! The newer `/api` REST generation, which vcsim does not serve: a small stand-in server checks
//! the login (Basic auth, `vmware-use-header-authn`), the session header, the bare-JSON
//! answers, `?action=` and re-login after the session is deleted.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use binding_env::{Flavor, ObjectId, RestClient};
use vsphere_client::Credentials;

#[derive(Default)]
struct Server {
    sessions: Vec<String>,
    logins: usize,
    calls: Vec<String>,
}

type Shared = Arc<Mutex<Server>>;

fn json(status: StatusCode, body: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_owned(),
    )
        .into_response()
}

async fn handle(
    State(state): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut s = state.lock().expect("lock");
    let target = uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    s.calls.push(format!("{method} {target}"));
    if method == Method::POST && target == "/api/session" {
        // "user:pass" in Basic auth.
        let ok = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            == Some("Basic dXNlcjpwYXNz")
            && headers
                .get("vmware-use-header-authn")
                .and_then(|v| v.to_str().ok())
                == Some("true");
        if !ok {
            return StatusCode::UNAUTHORIZED.into_response();
        }
        s.logins += 1;
        let id = format!("session-{}", s.logins);
        s.sessions.push(id.clone());
        return json(StatusCode::CREATED, &format!("\"{id}\""));
    }
    let session = headers
        .get("vmware-api-session-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if !s.sessions.contains(&session) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    match (method.as_str(), target.as_str()) {
        ("GET", "/api/session") => json(StatusCode::OK, r#"{"user":"user"}"#),
        ("DELETE", "/api/session") => {
            s.sessions.retain(|x| *x != session);
            StatusCode::NO_CONTENT.into_response()
        }
        ("GET", "/api/cis/tagging/category") => json(StatusCode::OK, r#"["c1"]"#),
        ("GET", "/api/cis/tagging/category/c1") => json(
            StatusCode::OK,
            r#"{"id":"c1","name":"env","description":"","cardinality":"SINGLE","associable_types":[],"used_by":[]}"#,
        ),
        ("POST", "/api/cis/tagging/tag") => {
            let spec: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            // /api takes the spec bare, not wrapped in create_spec.
            if spec["name"] == "prod" && spec["category_id"] == "c1" {
                json(StatusCode::CREATED, r#""t1""#)
            } else {
                StatusCode::BAD_REQUEST.into_response()
            }
        }
        ("POST", "/api/cis/tagging/tag-association/t1?action=attach") => {
            let b: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            if b["object_id"]["type"] == "VirtualMachine" && b["object_id"]["id"] == "vm-57" {
                StatusCode::NO_CONTENT.into_response()
            } else {
                StatusCode::BAD_REQUEST.into_response()
            }
        }
        ("POST", "/api/cis/tagging/tag-association?action=list-attached-tags") => {
            json(StatusCode::OK, r#"["t1"]"#)
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn start() -> (String, Shared) {
    let state: Shared = Arc::default();
    let app = Router::new().fallback(handle).with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), state)
}

#[tokio::test]
async fn auto_picks_api_and_speaks_it() {
    let (url, state) = start().await;
    let rest = RestClient::builder(&url)
        .credentials(Credentials::new("user", "pass"))
        .connect()
        .await
        .expect("connect");
    assert_eq!(rest.flavor(), Flavor::Api);
    assert_eq!(rest.session_info().await.expect("info")["user"], "user");
    assert_eq!(rest.list_categories().await.expect("list"), vec!["c1"]);
    assert_eq!(rest.get_category("c1").await.expect("get").name, "env");
    let tag = rest
        .create_tag(&binding_env::TagSpec {
            name: "prod".into(),
            description: String::new(),
            category_id: "c1".into(),
        })
        .await
        .expect("create tag");
    assert_eq!(tag, "t1");
    let vm = ObjectId::vm("vm-57");
    rest.attach_tag("t1", &vm).await.expect("attach");
    assert_eq!(
        rest.list_attached_tags(&vm).await.expect("attached"),
        vec!["t1"]
    );

    // Server-side logout: the next call logs in again.
    state.lock().expect("lock").sessions.clear();
    assert_eq!(
        rest.list_categories().await.expect("after logout"),
        vec!["c1"]
    );
    assert_eq!(rest.relogins(), 1);

    rest.logout().await.expect("logout");
    let s = state.lock().expect("lock");
    assert!(s.sessions.is_empty());
    assert_eq!(s.logins, 2);
    assert!(
        !s.calls.iter().any(|c| c.contains("/rest/")),
        "{:?}",
        s.calls
    );
}

#[tokio::test]
async fn api_login_refusal_is_bad_credentials() {
    let (url, _state) = start().await;
    let e = RestClient::builder(&url)
        .credentials(Credentials::new("user", "wrong\n"))
        .connect()
        .await
        .expect_err("refused");
    assert!(e.is_bad_credentials(), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("ends with a newline"), "{msg}");
    assert!(!msg.contains("wrong"), "{msg}");
}

#[tokio::test]
async fn no_rest_api_at_all_is_named() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, Router::new()).await;
    });
    let e = RestClient::builder(format!("http://{addr}"))
        .credentials(Credentials::new("user", "pass"))
        .connect()
        .await
        .expect_err("no api");
    assert!(matches!(e, binding_env::RestError::NoRestApi { .. }), "{e}");
}

//! Redirects: followed within the server's origin only (a login's body holds the password), four
//! hops at most; any other redirect is an error naming where it pointed.

use std::sync::{Arc, Mutex};

use horizon_client::{Client, Credentials, Error, MAX_REDIRECTS};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const PASSWORD: &str = "s3cret-Passw0rd";

/// One request as a test server read it: method, path, body.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    pub(crate) method: String,
    pub(crate) path: String,
    pub(crate) body: String,
}

/// An HTTP/1.1 server on loopback that records every request and answers each with
/// `answer(path)`: (status line, extra header lines, body). `path` includes the query.
pub(crate) async fn server(
    answer: impl Fn(&str) -> (&'static str, String, String) + Send + Sync + 'static,
) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let answer = Arc::new(answer);
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let record = record.clone();
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    // One request: the head, then Content-Length bytes of body.
                    let head_end = loop {
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        let mut chunk = [0u8; 4096];
                        match conn.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
                    let len = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    while buf.len() < head_end + len {
                        let mut chunk = [0u8; 4096];
                        match conn.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let mut words = head.split_whitespace();
                    let method = words.next().unwrap_or_default().to_owned();
                    let path = words.next().unwrap_or_default().to_owned();
                    let body = String::from_utf8_lossy(&buf[head_end..head_end + len]).into_owned();
                    buf.drain(..head_end + len);
                    record.lock().expect("lock").push(Seen {
                        method,
                        path: path.clone(),
                        body,
                    });
                    let (status, headers, body) = answer(&path);
                    let reply = format!(
                        "HTTP/1.1 {status}\r\n{headers}content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if conn.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (base, seen)
}

fn client(base: &str) -> Client {
    Client::builder(base)
        .expect("url")
        .credentials(Credentials::new("dom", "admin", PASSWORD).expect("credentials"))
        .build()
        .expect("client")
}

fn redirect(status: &'static str, location: String) -> (&'static str, String, String) {
    (status, format!("location: {location}\r\n"), String::new())
}

#[tokio::test]
async fn a_login_redirected_to_another_origin_never_reaches_it() {
    for status in [
        "307 Temporary Redirect",
        "308 Permanent Redirect",
        "302 Found",
    ] {
        // Elsewhere: another port on the same host is another origin.
        let (elsewhere, elsewhere_seen) = server(|_| {
            (
                "200 OK",
                String::new(),
                r#"{"access_token":"a","refresh_token":"r"}"#.to_owned(),
            )
        })
        .await;
        let target = format!("{elsewhere}/rest/login");
        let (front, front_seen) = server(move |_| redirect(status, target.clone())).await;

        let err = client(&front)
            .login()
            .await
            .expect_err("a redirect elsewhere is refused");
        let message = err.to_string();
        match err {
            Error::Redirected {
                what,
                status: code,
                location,
            } => {
                assert_eq!(what, "login");
                assert_eq!(code.to_string(), status[..3]);
                assert_eq!(location, format!("{elsewhere}/rest/login"));
            }
            other => panic!("{status}: expected Error::Redirected, got {other:?}"),
        }
        assert!(!message.contains(PASSWORD), "{message}");
        assert!(
            message.contains("set the Horizon server address"),
            "{message}"
        );
        assert_eq!(front_seen.lock().expect("lock").len(), 1, "{status}");
        assert!(
            elsewhere_seen.lock().expect("lock").is_empty(),
            "{status}: the other origin received {:?}",
            elsewhere_seen.lock().expect("lock")
        );
    }
}

#[tokio::test]
async fn a_redirect_within_the_origin_is_followed_with_the_same_body() {
    let (front, seen) = server(|path| match path {
        "/rest/login" => redirect("308 Permanent Redirect", "/v2/rest/login".to_owned()),
        "/v2/rest/login" => (
            "200 OK",
            String::new(),
            r#"{"access_token":"a","refresh_token":"r"}"#.to_owned(),
        ),
        _ => ("404 Not Found", String::new(), String::new()),
    })
    .await;
    client(&front)
        .login()
        .await
        .expect("login through the redirect");
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(
        seen.iter().map(|s| s.path.as_str()).collect::<Vec<_>>(),
        ["/rest/login", "/v2/rest/login"]
    );
    for s in &seen {
        assert_eq!(s.method, "POST");
        assert!(s.body.contains(PASSWORD), "the same body again: {s:?}");
    }
}

#[tokio::test]
async fn redirects_within_the_origin_stop_after_the_limit() {
    let (front, seen) = server(|path| {
        let n: usize = path
            .trim_start_matches("/hop")
            .trim_start_matches("/rest/login")
            .parse()
            .unwrap_or(0);
        redirect("307 Temporary Redirect", format!("/hop{}", n + 1))
    })
    .await;
    let err = client(&front)
        .login()
        .await
        .expect_err("an endless redirect");
    assert!(
        matches!(err, Error::Redirected { ref location, .. } if location.ends_with(&format!("/hop{}", MAX_REDIRECTS + 1))),
        "{err:?}"
    );
    // The first request and MAX_REDIRECTS followed ones.
    assert_eq!(seen.lock().expect("lock").len(), MAX_REDIRECTS + 1);
}

//! vCenter URLs and credentials.
//!
//! URLs are parsed the way govmomi's `soap.ParseURL` does, so the adapter's CloudEvent `source`
//! is the same string the Go adapter sends: `https://` when no scheme is given, a trailing `/`
//! dropped, `/sdk` when the path is empty, user info taken out (it becomes [`Credentials`] and is
//! never kept in the URL, logged or displayed).

use std::fmt;

/// Why a vCenter URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid vCenter URL: {reason} (expected e.g. https://vcenter.example.com/sdk)")]
pub struct UrlError {
    reason: String,
}

/// A vCenter SDK endpoint: the URL requests go to, without user info.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    url: url::Url,
    display: String,
}

impl Endpoint {
    /// Parse like govmomi's `soap.ParseURL`. User info in the URL is returned separately.
    pub fn parse(input: &str) -> Result<(Endpoint, Option<Credentials>), UrlError> {
        let err = |reason: &str| UrlError {
            reason: reason.to_owned(),
        };
        let input = input.trim();
        if input.is_empty() {
            return Err(err("the URL is empty"));
        }
        let with_scheme = if has_scheme(input) {
            input.to_owned()
        } else {
            format!("https://{input}")
        };
        let trimmed = with_scheme.trim_end_matches('/');
        let (scheme, rest) = trimmed.split_once("://").ok_or_else(|| err("no scheme"))?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "https" && scheme != "http" {
            return Err(UrlError {
                reason: format!("scheme {scheme:?} is not http or https"),
            });
        }
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, path_and_more) = rest.split_at(authority_end);
        let (userinfo, host) = match authority.rfind('@') {
            Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
            None => (None, authority),
        };
        if host.is_empty() {
            return Err(err("no host"));
        }
        let path_and_more = if path_and_more.is_empty() || path_and_more.starts_with(['?', '#']) {
            format!("/sdk{path_and_more}")
        } else {
            path_and_more.to_owned()
        };
        let display = format!("{scheme}://{host}{path_and_more}");
        let url = url::Url::parse(&display).map_err(|e| UrlError {
            reason: format!("{e}"),
        })?;
        let credentials = match userinfo {
            None => None,
            Some(info) => {
                let (user, pass) = info.split_once(':').unwrap_or((info, ""));
                Some(Credentials::new(percent_decode(user), percent_decode(pass)))
            }
        };
        Ok((Endpoint { url, display }, credentials))
    }

    /// The URL requests are sent to.
    pub fn url(&self) -> &url::Url {
        &self.url
    }

    /// The URL as govmomi prints it (`https://vc.example/sdk`), without user info.
    pub fn as_str(&self) -> &str {
        &self.display
    }

    /// Whether the URL is plain http.
    pub fn is_plain_http(&self) -> bool {
        self.url.scheme() == "http"
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display)
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Endpoint({})", self.display)
    }
}

fn has_scheme(s: &str) -> bool {
    // govmomi: `^\w+://`
    match s.find("://") {
        Some(i) => {
            i > 0
                && s[..i]
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        None => false,
    }
}

fn percent_decode(s: &str) -> String {
    fn hex(b: u8) -> Option<u8> {
        (b as char).to_digit(16).map(|d| d as u8)
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A secret string: its `Debug` and `Display` never show the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The secret value; use it only where it is sent.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A user name and password for `Login`.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name, e.g. `administrator@vsphere.local`.
    pub username: String,
    /// The password.
    pub password: Secret,
}

impl Credentials {
    /// Credentials from a user name and password, used as given (not trimmed).
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: Secret::new(password),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &self.password)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> (String, Option<Credentials>) {
        let (e, c) = Endpoint::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        (e.as_str().to_owned(), c)
    }

    #[test]
    fn parses_like_govmomi() {
        assert_eq!(parse("vc.example").0, "https://vc.example/sdk");
        assert_eq!(parse("vc.example/").0, "https://vc.example/sdk");
        assert_eq!(
            parse("https://vc.example:443").0,
            "https://vc.example:443/sdk"
        );
        assert_eq!(
            parse("http://127.0.0.1:8989/sdk").0,
            "http://127.0.0.1:8989/sdk"
        );
        assert_eq!(
            parse("https://vc.example/custom/").0,
            "https://vc.example/custom"
        );
        assert_eq!(parse("[::1]:8443").0, "https://[::1]:8443/sdk");
    }

    #[test]
    fn user_info_becomes_credentials_and_leaves_the_url() {
        let (url, creds) = parse("https://admin%40vsphere.local:p%40ss:w@vc.example/sdk");
        assert_eq!(url, "https://vc.example/sdk");
        let creds = creds.expect("credentials");
        assert_eq!(creds.username, "admin@vsphere.local");
        assert_eq!(creds.password.expose(), "p@ss:w");
        assert!(!format!("{creds:?}").contains("p@ss"));
    }

    #[test]
    fn refuses_bad_urls_with_a_reason() {
        for bad in ["", "ftp://vc.example", "https://", "https://user@"] {
            let e = Endpoint::parse(bad).expect_err(bad);
            assert!(e.to_string().starts_with("invalid vCenter URL"), "{e}");
        }
    }
}

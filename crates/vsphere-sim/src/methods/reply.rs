//! What a method returns, and who called it.

use vsphere_client::catalogue::Release;

use crate::soap::{Fault, Response, SoapRequest};

/// What to send back.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub body: String,
    pub set_cookie: Option<String>,
}

impl Reply {
    pub(crate) fn ok(body: String) -> Self {
        Self {
            status: 200,
            body,
            set_cookie: None,
        }
    }
    pub(super) fn fault(f: &Fault) -> Self {
        Self {
            status: 500,
            body: f.envelope(),
            set_cookie: None,
        }
    }
}

pub(crate) type R = Result<Reply, Fault>;

/// Who sent the request.
pub(crate) struct Caller<'a> {
    pub cookie: Option<&'a str>,
    pub peer: &'a str,
    pub user_agent: &'a str,
    /// The API release the request asked for ([`crate::api::requested`]).
    pub release: Release,
}

/// The empty answer of a method that returns nothing.
pub(super) fn empty(req: &SoapRequest) -> R {
    Ok(Reply::ok(Response::new(&req.method).finish()))
}

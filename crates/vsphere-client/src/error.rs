//! The client's error type.

use std::time::Duration;

use crate::decode::DecodeError;
use crate::endpoint::UrlError;
use crate::fault::{FaultClass, SoapFault};

/// Everything that can go wrong talking to vCenter. Messages name the endpoint and the cause and
/// never contain credentials or the session cookie.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL was refused.
    #[error(transparent)]
    Url(#[from] UrlError),
    /// A setting is invalid (CA bundle, HTTP client).
    #[error("invalid vCenter client configuration: {reason}")]
    Config {
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// The connection could not be made or broke: DNS, TCP, TLS (an untrusted certificate or a
    /// name mismatch shows here with rustls' reason), or a dropped connection.
    #[error("cannot reach vCenter at {endpoint}: {detail}")]
    Connect {
        /// The SDK URL.
        endpoint: String,
        /// The cause chain.
        detail: String,
    },
    /// No answer in time.
    #[error("vCenter at {endpoint} did not answer within {after:?}")]
    Timeout {
        /// The SDK URL.
        endpoint: String,
        /// The timeout that expired.
        after: Duration,
    },
    /// An HTTP answer that is not SOAP (a 503 from a proxy, an HTML error page).
    #[error("vCenter at {endpoint} answered HTTP {status} without a SOAP body: {snippet}")]
    Http {
        /// The SDK URL.
        endpoint: String,
        /// The HTTP status.
        status: u16,
        /// The start of the body, for diagnosis.
        snippet: String,
    },
    /// The response was bigger than allowed. Its first bytes are kept (an event stream
    /// salvages the event at fault from them).
    #[error("response from vCenter at {endpoint} exceeds the {limit}-byte limit")]
    ResponseTooLarge {
        /// The SDK URL.
        endpoint: String,
        /// The limit in bytes.
        limit: usize,
        /// The start of the answer.
        head: ResponseHead,
    },
    /// The response could not be decoded.
    #[error("{method}: {source}")]
    Decode {
        /// The SOAP method.
        method: &'static str,
        /// Where and why.
        #[source]
        source: DecodeError,
    },
    /// vCenter answered with a SOAP fault.
    #[error("{method} failed: {fault}")]
    Fault {
        /// The SOAP method.
        method: &'static str,
        /// The fault.
        fault: Box<SoapFault>,
    },
    /// Login was refused: wrong user name or password.
    #[error("vCenter at {endpoint} refused the login for user {username:?}: {fault}{hint}")]
    BadCredentials {
        /// The SDK URL.
        endpoint: String,
        /// The user name tried.
        username: String,
        /// The fault.
        fault: Box<SoapFault>,
        /// A hint (e.g. a trailing newline in the credentials).
        hint: String,
    },
    /// A session-bound object (an event collector, a property filter) belongs to a session the
    /// client has since replaced; create a new one.
    #[error("{object} belongs to a vCenter session that was replaced; create a new one")]
    SessionReplaced {
        /// The object's reference.
        object: String,
    },
    /// A call needs a session but the client has no credentials.
    #[error("{method} needs a logged-in session and the client has no credentials")]
    NoCredentials {
        /// The SOAP method.
        method: &'static str,
    },
    /// An inventory path names no object in vCenter (`SearchIndex.FindByInventoryPath` found
    /// nothing): a typo, a renamed or moved folder, or an object the user cannot see.
    #[error(
        "inventory path {path:?} does not name an object in vCenter: check it with `govc ls {path}` \
         (paths look like /Datacenter/vm/Folder) and that the user may see it"
    )]
    InventoryPathNotFound {
        /// The path looked up.
        path: String,
    },
    /// The response decoded but did not have the expected shape.
    #[error("{method}: unexpected response: {detail}")]
    Unexpected {
        /// The SOAP method.
        method: &'static str,
        /// What was wrong.
        detail: String,
    },
}

impl Error {
    /// The SOAP fault, if this is one.
    pub fn fault(&self) -> Option<&SoapFault> {
        match self {
            Error::Fault { fault, .. } | Error::BadCredentials { fault, .. } => {
                Some(fault.as_ref())
            }
            _ => None,
        }
    }

    /// Whether the session is gone (re-login and recreate session-bound objects).
    pub fn is_session_lost(&self) -> bool {
        self.fault().is_some_and(SoapFault::is_session_lost)
    }

    /// Whether the object the call was about is gone (a collector destroyed on the server, or
    /// from a replaced session): create a new one.
    pub fn is_object_gone(&self) -> bool {
        matches!(self, Error::SessionReplaced { .. })
            || self.fault().is_some_and(SoapFault::is_object_gone)
    }

    /// Whether the credentials were refused.
    pub fn is_bad_credentials(&self) -> bool {
        matches!(self, Error::BadCredentials { .. })
            || self.fault().is_some_and(SoapFault::is_bad_credentials)
    }

    /// Whether retrying later may succeed: connection problems, timeouts, 5xx and 429 answers,
    /// transient faults and a lost session.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Connect { .. } | Error::Timeout { .. } => true,
            Error::Http { status, .. } => *status >= 500 || *status == 429 || *status == 408,
            Error::Fault { fault, .. } => matches!(
                fault.class(),
                FaultClass::Transient | FaultClass::SessionLost
            ),
            _ => false,
        }
    }
}

/// The first bytes of an answer that exceeded the response limit (at most
/// [`ResponseHead::LIMIT`]); its `Debug` shows only the length.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ResponseHead(pub(crate) Vec<u8>);

impl ResponseHead {
    /// How much of an answer is kept.
    pub const LIMIT: usize = 64 << 10;

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for ResponseHead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ResponseHead({} bytes)", self.0.len())
    }
}

//! SOAP faults from vCenter and how to react to them.

use crate::model::DataObject;

/// A SOAP fault: `faultcode`, `faultstring` and the decoded `detail` (a `MethodFault` subtype).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SoapFault {
    /// `faultcode`, e.g. `ServerFaultCode`.
    pub code: String,
    /// `faultstring` (vcsim sends it empty).
    pub message: String,
    /// The fault type: the `xsi:type` of the detail's first child, e.g. `NotAuthenticated`.
    pub fault_type: Option<String>,
    /// The decoded detail object with every field vCenter sent.
    pub detail: Option<DataObject>,
}

/// What a caller should do about a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultClass {
    /// The session is gone (`NotAuthenticated`): log in again, recreate session-bound objects
    /// such as event collectors, and retry.
    SessionLost,
    /// The user name or password is wrong (`InvalidLogin`): retrying will not help until the
    /// credentials change.
    BadCredentials,
    /// A passing condition on the server (`RequestCanceled`, `HostCommunication`,
    /// `SystemError`, ...): retry with backoff.
    Transient,
    /// The request itself is wrong or refers to something that is gone: do not retry as is.
    Permanent,
}

const TRANSIENT: &[&str] = &[
    "RequestCanceled",
    "HostCommunication",
    "HostNotConnected",
    "HostNotReachable",
    "SystemError",
    "Timedout",
    "TooManyConcurrentNativeClones",
    "ConcurrentAccess",
];

impl SoapFault {
    /// The fault type, or `""` when the detail had none.
    pub fn fault_type(&self) -> &str {
        self.fault_type.as_deref().unwrap_or("")
    }

    /// Whether the fault is of type `name` or a subtype (by the catalogue).
    pub fn is_a(&self, name: &str) -> bool {
        self.fault_type() == name || self.detail.as_ref().is_some_and(|d| d.is_a(name))
    }

    /// How to react.
    pub fn class(&self) -> FaultClass {
        if self.is_a("NotAuthenticated") {
            FaultClass::SessionLost
        } else if self.is_a("InvalidLogin") {
            FaultClass::BadCredentials
        } else if TRANSIENT.iter().any(|t| self.is_a(t)) {
            FaultClass::Transient
        } else {
            FaultClass::Permanent
        }
    }

    /// Whether the session is gone.
    pub fn is_session_lost(&self) -> bool {
        self.class() == FaultClass::SessionLost
    }

    /// Whether the credentials were refused.
    pub fn is_bad_credentials(&self) -> bool {
        self.class() == FaultClass::BadCredentials
    }

    /// Whether a retry with backoff may succeed.
    pub fn is_transient(&self) -> bool {
        self.class() == FaultClass::Transient
    }

    /// Whether the request referred to a managed object that no longer exists (for a collector:
    /// create a new one).
    pub fn is_object_gone(&self) -> bool {
        self.is_a("ManagedObjectNotFound")
    }
}

impl std::fmt::Display for SoapFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.fault_type, self.message.is_empty()) {
            (Some(t), false) => write!(f, "{t}: {}", self.message),
            (Some(t), true) => write!(f, "{t}"),
            (None, false) => write!(f, "{}: {}", self.code, self.message),
            (None, true) => write!(f, "{} (no detail)", self.code),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue;

    fn fault(ty: &str) -> SoapFault {
        let detail = catalogue::lookup(ty).map(DataObject::new);
        SoapFault {
            code: "ServerFaultCode".into(),
            message: String::new(),
            fault_type: Some(ty.into()),
            detail,
        }
    }

    #[test]
    fn classifies_by_type_and_inheritance() {
        assert_eq!(fault("NotAuthenticated").class(), FaultClass::SessionLost);
        assert_eq!(fault("InvalidLogin").class(), FaultClass::BadCredentials);
        // A subtype of InvalidLogin is still a credentials problem.
        assert!(catalogue::lookup("PasswordExpired").is_some_and(|t| t.is_a("InvalidLogin")));
        assert_eq!(fault("PasswordExpired").class(), FaultClass::BadCredentials);
        assert_eq!(fault("RequestCanceled").class(), FaultClass::Transient);
        assert_eq!(fault("HostNotConnected").class(), FaultClass::Transient);
        assert_eq!(fault("InvalidArgument").class(), FaultClass::Permanent);
        assert!(fault("ManagedObjectNotFound").is_object_gone());
        assert!(!fault("InvalidArgument").is_object_gone());
        // A fault type newer than the catalogue: permanent unless named.
        let unknown = SoapFault {
            fault_type: Some("FutureFault".into()),
            ..SoapFault::default()
        };
        assert_eq!(unknown.class(), FaultClass::Permanent);
    }

    #[test]
    fn displays_type_and_message() {
        let mut f = fault("InvalidLogin");
        f.message = "Cannot complete login due to an incorrect user name or password.".into();
        assert_eq!(
            f.to_string(),
            "InvalidLogin: Cannot complete login due to an incorrect user name or password."
        );
        assert_eq!(fault("NotAuthenticated").to_string(), "NotAuthenticated");
    }
}

//! Errors: each is printed as one line (`Error: …`) and the process exits with 1.

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad flags or arguments, with the Go plugin's texts where it has one.
    #[error("{0}")]
    Usage(String),
    /// The Kubernetes configuration could not be loaded.
    #[error("{0}")]
    Config(String),
    /// The API server (or an admission webhook it called) refused or failed a request.
    #[error("{context}: {message}")]
    Api {
        /// What was being done, e.g. `failed to create source`.
        context: String,
        /// The API server's message, on one line.
        message: String,
    },
    /// The CRD of a kind is not served: vmware-sources is not installed.
    #[error(
        "vmware-sources is not installed in this cluster: the API server does not serve \
         {resource} (install a vmware-sources release with kubectl apply -f release.yaml)"
    )]
    NotInstalled {
        /// `<plural>.<group>`.
        resource: String,
    },
    /// The credential check against vCenter or Horizon failed.
    #[error("{0}")]
    Verify(String),
    /// Local I/O (reading a file, stdin, writing the output).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// An object could not be rendered as JSON or YAML.
    #[error("cannot render the output: {0}")]
    Render(String),
    /// A `-o jsonpath=` template does not apply to the object (an index out of range, a
    /// filter on something that is not a list).
    #[error(transparent)]
    Template(#[from] crate::jsonpath::ExecError),
}

impl Error {
    /// A usage error.
    pub fn usage(message: impl Into<String>) -> Self {
        Self::Usage(message.into())
    }

    /// An I/O error with what was being done.
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let context = context.into();
        move |source| Self::Io { context, source }
    }
}

/// The message of a Kubernetes API error on one line: the API server's (or the webhook's)
/// text, whose several causes are joined with `; `, or the transport failure and its causes.
pub fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(status) => one_line(&status.message),
        other => {
            let mut text = other.to_string();
            let mut cause = std::error::Error::source(other);
            while let Some(c) = cause {
                let s = c.to_string();
                if !text.contains(&s) {
                    text.push_str(": ");
                    text.push_str(&s);
                }
                cause = c.source();
            }
            one_line(&text)
        }
    }
}

/// Joins the lines of `text` with `; `.
pub fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// Whether `e` is the API server's 404.
pub fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_messages_become_one_line() {
        assert_eq!(
            one_line(
                "admission webhook \"validation.webhook.vsphere.sources.tanzu.vmware.com\" denied the request: validation failed: expected at least one, got none: spec.sink.ref, spec.sink.uri\nmissing field(s): spec.address.host\n"
            ),
            "admission webhook \"validation.webhook.vsphere.sources.tanzu.vmware.com\" denied the request: validation failed: expected at least one, got none: spec.sink.ref, spec.sink.uri; missing field(s): spec.address.host"
        );
    }
}

//! The OIDC tokens of a sink with an audience: a Kubernetes client, the TokenRequest issuer,
//! renewal in the background.

use std::sync::Arc;

use tracing::info;

use crate::deliver::identity::{OidcSettings, TokenRequests, Tokens};
use crate::error::AdapterError;

/// The tokens for `oidc`'s audiences, renewed in the background while they are used.
pub(super) async fn start(oidc: &OidcSettings) -> Result<Arc<Tokens>, AdapterError> {
    let client = kube::Client::try_default()
        .await
        .map_err(|e| AdapterError::TokenClient(e.to_string()))?;
    let issuer = TokenRequests::new(client, &oidc.namespace, &oidc.service_account);
    let tokens = Arc::new(Tokens::new(
        Box::new(issuer),
        &oidc.audiences(),
        oidc.expiration,
    ));
    Tokens::renew_in_background(&tokens);
    info!(
        service_account = %oidc.service_account,
        namespace = %oidc.namespace,
        audience = oidc.audience.as_deref().unwrap_or_default(),
        dead_letter_sink_audience = oidc.dead_letter_audience.as_deref().unwrap_or_default(),
        "sending an OIDC identity to the sinks with an audience"
    );
    Ok(tokens)
}

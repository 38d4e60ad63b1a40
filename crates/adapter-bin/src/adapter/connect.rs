//! Connecting to a source, retrying until it answers: vCenter's login, Horizon's login.

use std::future::Future;
use std::time::Duration;

use tracing::{error, warn};

use super::Context;
use crate::backoff::{Backoff, jitter};
use crate::settings::ConfigError;

/// How one attempt to connect went.
#[derive(Debug)]
pub enum Attempt<T> {
    /// Connected.
    Connected(T),
    /// Worth trying again.
    Failed {
        /// Why, for the log.
        error: String,
        /// The source refused the credentials: logged as an error (someone must act), and
        /// still retried (a Secret can be fixed while the adapter waits).
        bad_credentials: bool,
    },
    /// Retrying cannot fix it (a setting).
    Fatal(ConfigError),
}

/// The waits between attempts to reach a source: 1 s doubling up to 60 s, jittered.
pub fn reconnect_backoff() -> Backoff {
    Backoff::reconnect(Duration::from_secs(60))
}

/// Call `attempt` until it connects, waiting [`reconnect_backoff`] between attempts, with
/// `source_up` following each attempt and one log line per failure naming `what` (`vCenter`,
/// `Horizon`). `Ok(None)` when shutdown came first; `Err` for an attempt's [`Attempt::Fatal`].
pub async fn retry_until_connected<T, F, Fut>(
    what: &str,
    cx: &Context,
    mut attempt: F,
) -> Result<Option<T>, ConfigError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Attempt<T>>,
{
    let backoff = reconnect_backoff();
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        match attempt().await {
            Attempt::Connected(connected) => {
                cx.metrics.set_source_up(true);
                return Ok(Some(connected));
            }
            Attempt::Fatal(e) => return Err(e),
            Attempt::Failed {
                error,
                bad_credentials,
            } => {
                cx.metrics.set_source_up(false);
                let wait = backoff.delay(attempts, None, jitter());
                if bad_credentials {
                    error!(error = %error, retry_in_s = wait.as_secs_f64(), "{what} refused the credentials");
                } else {
                    warn!(error = %error, retry_in_s = wait.as_secs_f64(), "cannot connect to {what}");
                }
                if crate::runtime::sleep_or_cancel(wait, &cx.shutdown).await {
                    return Ok(None);
                }
            }
        }
    }
}

//! `EventHistoryCollector` calls, `PostEvent`/`LogUserEvent`, and the `latestPage` watch.

use std::time::Duration;

use tracing::debug;

use crate::catalogue::Kind;
use crate::client::Client;
use crate::decode::{type_index, values_to_events};
use crate::error::Error;
use crate::events::EventFilterSpec;
use crate::model::{DataObject, Event, MoRef, Value};
use crate::request::Request;

/// A server-side event history collector. It belongs to the session that created it: after the
/// client logs in again (see [`Client::session_generation`]) calls on it fail and a new one must
/// be created.
#[derive(Debug, Clone)]
pub struct EventCollector {
    client: Client,
    moref: MoRef,
    generation: u64,
}

impl Client {
    fn event_manager(&self, method: &'static str) -> Result<MoRef, Error> {
        self.service_content()
            .event_manager
            .clone()
            .ok_or(Error::Unexpected {
                method,
                detail: "the server has no EventManager".into(),
            })
    }

    /// `CreateCollectorForEvents`.
    pub async fn create_event_collector(
        &self,
        filter: &EventFilterSpec,
    ) -> Result<EventCollector, Error> {
        let mut req = Request::new(
            "CreateCollectorForEvents",
            &self.event_manager("CreateCollectorForEvents")?,
        );
        filter.write(&mut req);
        let values = self.invoke(req, Some(Kind::MoRef), None).await?;
        let generation = self.session_generation();
        match values.into_iter().next() {
            Some(Value::MoRef(moref)) => {
                debug!(collector = %moref.value, "created event collector");
                Ok(EventCollector {
                    client: self.clone(),
                    moref,
                    generation,
                })
            }
            other => Err(Error::Unexpected {
                method: "CreateCollectorForEvents",
                detail: format!("expected a collector reference, got {other:?}"),
            }),
        }
    }

    /// `PostEvent`: record an event (an `Event` subtype object) in vCenter's history.
    pub async fn post_event(&self, event: &DataObject) -> Result<(), Error> {
        let mut req = Request::new("PostEvent", &self.event_manager("PostEvent")?);
        req.object("eventToPost", event);
        self.invoke(req, None, None).await.map(|_| ())
    }

    /// `LogUserEvent`: record a `GeneralUserEvent` with `message` on `entity`.
    pub async fn log_user_event(&self, entity: &MoRef, message: &str) -> Result<(), Error> {
        let mut req = Request::new("LogUserEvent", &self.event_manager("LogUserEvent")?);
        req.moref("entity", entity).text("msg", message);
        self.invoke(req, None, None).await.map(|_| ())
    }
}

impl EventCollector {
    /// The collector's managed object reference.
    pub fn moref(&self) -> &MoRef {
        &self.moref
    }

    /// Whether the session that created the collector is still the client's session (after a
    /// re-login the collector is gone on the server).
    pub fn is_current(&self) -> bool {
        self.generation == self.client.session_generation()
    }

    /// Fail fast instead of sending a call the server can only refuse.
    fn check_current(&self) -> Result<(), Error> {
        if self.is_current() {
            Ok(())
        } else {
            Err(Error::SessionReplaced {
                object: self.moref.to_string(),
            })
        }
    }

    async fn events(&self, method: &'static str, max_count: i32) -> Result<Vec<Event>, Error> {
        self.check_current()?;
        let mut req = Request::new(method, &self.moref);
        req.display("maxCount", max_count);
        let values = self
            .client
            .invoke(req, Some(Kind::Data(type_index("Event"))), None)
            .await?;
        values_to_events(values).map_err(|source| Error::Decode { method, source })
    }

    /// `ReadNextEvents`, the answer's body undecoded (the stream decodes it, leniently when it
    /// must).
    pub(crate) async fn read_next_raw(&self, max_count: i32) -> Result<Vec<u8>, Error> {
        self.check_current()?;
        let mut req = Request::new("ReadNextEvents", &self.moref);
        req.display("maxCount", max_count);
        Ok(self.client.invoke_raw(req, None).await?.body)
    }

    /// `ReadNextEvents`: up to `max_count` (vCenter allows 1 to 1000) events after the
    /// collector's position, oldest first.
    pub async fn read_next(&self, max_count: i32) -> Result<Vec<Event>, Error> {
        self.events("ReadNextEvents", max_count).await
    }

    /// `ReadPreviousEvents`: up to `max_count` events before the collector's position.
    pub async fn read_previous(&self, max_count: i32) -> Result<Vec<Event>, Error> {
        self.events("ReadPreviousEvents", max_count).await
    }

    /// `SetCollectorPageSize`: the size of `latestPage`.
    pub async fn set_page_size(&self, max_count: i32) -> Result<(), Error> {
        self.check_current()?;
        let mut req = Request::new("SetCollectorPageSize", &self.moref);
        req.display("maxCount", max_count);
        self.client.invoke(req, None, None).await.map(|_| ())
    }

    /// `RewindCollector`: move to the oldest event.
    pub async fn rewind(&self) -> Result<(), Error> {
        self.check_current()?;
        let req = Request::new("RewindCollector", &self.moref);
        self.client.invoke(req, None, None).await.map(|_| ())
    }

    /// `ResetCollector`: move to just after the newest event.
    pub async fn reset(&self) -> Result<(), Error> {
        self.check_current()?;
        let req = Request::new("ResetCollector", &self.moref);
        self.client.invoke(req, None, None).await.map(|_| ())
    }

    /// `DestroyCollector`.
    pub async fn destroy(self) -> Result<(), Error> {
        if !self.is_current() {
            // It went with its session.
            return Ok(());
        }
        let req = Request::new("DestroyCollector", &self.moref);
        self.client.invoke(req, None, None).await.map(|_| ())
    }

    /// Watch the collector's `latestPage` with a private PropertyCollector, so new events can be
    /// awaited with `WaitForUpdatesEx` instead of polling.
    pub async fn watch_latest_page(&self) -> Result<LatestPageWatch, Error> {
        self.check_current()?;
        LatestPageWatch::new(&self.client, &self.moref).await
    }
}

/// A `WaitForUpdatesEx` long poll on one collector's `latestPage`.
#[derive(Debug)]
pub struct LatestPageWatch {
    client: Client,
    collector: MoRef,
    property_collector: MoRef,
    version: String,
}

impl LatestPageWatch {
    async fn new(client: &Client, collector: &MoRef) -> Result<Self, Error> {
        let root_pc = client.service_content().property_collector.clone();
        let req = Request::new("CreatePropertyCollector", &root_pc);
        let values = client.invoke(req, Some(Kind::MoRef), None).await?;
        let property_collector = match values.into_iter().next() {
            Some(Value::MoRef(m)) => m,
            other => {
                return Err(Error::Unexpected {
                    method: "CreatePropertyCollector",
                    detail: format!("expected a reference, got {other:?}"),
                });
            }
        };
        let mut req = Request::new("CreateFilter", &property_collector);
        req.open("spec")
            .open("propSet")
            .text("type", "EventHistoryCollector")
            .text("all", "false")
            .text("pathSet", "latestPage")
            .close("propSet")
            .open("objectSet")
            .moref("obj", collector)
            .text("skip", "false")
            .close("objectSet")
            .close("spec")
            .text("partialUpdates", "false");
        client.invoke(req, Some(Kind::MoRef), None).await?;
        let mut watch = Self {
            client: client.clone(),
            collector: collector.clone(),
            property_collector,
            version: String::new(),
        };
        // The first call returns the current state at once and gives the baseline version.
        watch.wait_raw(Duration::from_secs(0)).await?;
        Ok(watch)
    }

    /// The collector watched.
    pub fn collector(&self) -> &MoRef {
        &self.collector
    }

    /// Wait up to `max_wait` (whole seconds) for `latestPage` to change. `true` when it did
    /// (new events to read), `false` on timeout.
    pub async fn wait(&mut self, max_wait: Duration) -> Result<bool, Error> {
        self.wait_raw(max_wait).await
    }

    async fn wait_raw(&mut self, max_wait: Duration) -> Result<bool, Error> {
        let secs = max_wait.as_secs().min(i32::MAX as u64);
        let mut req = Request::new("WaitForUpdatesEx", &self.property_collector);
        req.text("version", &self.version)
            .open("options")
            .display("maxWaitSeconds", secs)
            .close("options");
        let timeout = Duration::from_secs(secs) + Duration::from_secs(60);
        let values = self
            .client
            .invoke(
                req,
                Some(Kind::Data(type_index("UpdateSet"))),
                Some(timeout),
            )
            .await?;
        match values.into_iter().next() {
            Some(Value::Object(set)) => {
                if let Some(v) = set.get_str("version") {
                    self.version = v.to_owned();
                }
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Destroy the private PropertyCollector (and with it the filter).
    pub async fn close(self) -> Result<(), Error> {
        let req = Request::new("DestroyPropertyCollector", &self.property_collector);
        self.client.invoke(req, None, None).await.map(|_| ())
    }
}

//! The client against the Horizon simulator (horizon-sim), one module per area.

mod errors;
mod filters;
mod pages;
mod records;
mod redirects;
mod session;

use horizon_client::{Client, Credentials};
use horizon_sim::Simulator;

/// A client for `sim` with the credentials it accepts.
fn client(sim: &Simulator) -> Client {
    Client::builder(&sim.url())
        .expect("url")
        .credentials(Credentials::new(sim.domain(), sim.username(), sim.password()).expect("creds"))
        .build()
        .expect("client")
}

//! `list-vms`: a bound workload that lists every VM with its power state and host.
//!
//! It reads nothing but the VSphereBinding's environment (`VC_URL`, `VC_INSECURE`,
//! `VC_SECRET_PATH` or `VC_USERNAME`/`VC_PASSWORD`, optional `VC_CA_BUNDLE`) and prints one
//! line per VM, tab-separated: name, power state, host (`-` when the VM has none).

use std::io::Write;
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    examples::init();
    examples::exit_code("list-vms", run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let client = binding_env::new_soap_client().await?;
    let vms = client.list_vms().await;
    // Best effort: the session times out on the server anyway.
    let _ = client.logout().await;
    let mut out = std::io::stdout().lock();
    for vm in vms? {
        writeln!(
            out,
            "{}\t{}\t{}",
            vm.name,
            vm.power_state,
            vm.host_name.as_deref().unwrap_or("-")
        )?;
    }
    out.flush()?;
    Ok(())
}

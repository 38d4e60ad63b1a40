//! Runs an etcd + kube-apiserver pair on loopback for scripts, until standard input closes.
//!
//! ```text
//! cargo run -p kube-harness --example serve < some-fifo
//! kubeconfig /tmp/vmware-sources-kube-XXXX/kubeconfig
//! ```
//!
//! The first line names a kubeconfig for the admin user. `tools/link-order/generate.sh` uses it
//! to profile the adapter with its ConfigMap checkpoint.

use std::io::Write;

fn main() {
    let server = match kube_harness::KubeApiServer::start() {
        Ok(server) => server,
        Err(e) => {
            eprintln!("serve: cannot start the API server: {e}");
            std::process::exit(1);
        }
    };
    println!("kubeconfig {}", server.kubeconfig_path().display());
    let _ = std::io::stdout().flush();
    // Until the caller closes standard input; dropping the server stops both processes.
    let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
}

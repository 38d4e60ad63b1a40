//! `kn-vsphere`: the `kn vsphere` plugin (see `kn-vsphere --help`).

fn main() -> std::process::ExitCode {
    kn_vsphere::main_from_args(std::env::args_os())
}

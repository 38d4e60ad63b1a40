//! The integration tests of `kube-harness` (one test binary, a module per
//! area): `apiserver`, the harness against the real etcd + kube-apiserver it
//! starts.

mod apiserver;

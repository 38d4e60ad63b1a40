//! The integration tests of `release-tests` (one test binary, a module per
//! area): `release`, the release as an operator installs it.

mod release;

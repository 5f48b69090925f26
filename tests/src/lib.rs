//! Fixtures for integration tests against real servers: etcd ([`etcd`]) and Consul ([`consul`]).
//!
//! The etcd fixture starts etcd in a container through testcontainers when a Docker engine
//! answers (from an image the project builds locally with `scripts/etcd-image.sh`), else as a
//! process on free loopback ports (`DISCOVERY_ETCD_MODE=process|docker` forces one). The Consul
//! fixture runs Debian's Consul 1.8.7 (installed into `.tools/` by `scripts/install-consul.sh`) as a
//! process. A missing server is a test failure, never a skip (CI also sets
//! `DISCOVERY_REQUIRE_ETCD=1` / `DISCOVERY_REQUIRE_CONSUL=1`). [`bins`] builds and locates the
//! example binaries for tests that run them as a user would.

pub mod bins;
pub mod confd;
pub mod consul;
pub mod etcd;
pub mod image;
pub mod proxy;
pub mod util;

// Package load is a WebSocket load generator on the project's own poller
// and frame code: thousands of client connections per event loop, each a
// small struct on a raw fd, masked with a fresh key per frame (§5.3) from a
// fast generator seeded from crypto/rand. Scenarios (hold, echo, ...) drive
// the open connections; failures are counted by cause and latencies go into
// HDR-style histograms.
package load

// Package session is Umbrella Edge's session layer: it authenticates both ends over any
// carrier byte stream, agrees hybrid X25519+ML-KEM-768 keys, encrypts and pads records,
// keeps its byte stream whole across carriers (resumption), and multiplexes streams that
// name a backend service. It knows nothing of transports.
//
// Its files are grouped by the prefix of their names, one group per concern, from the
// API down; docs/protocol.md has the wire format of each:
//
//   - session*.go: the API: Session and its life, configs, errors, streams.
//   - handshake*.go: the hellos, the key schedule, the gateway's checks, replays.
//   - resume*.go: Resume, tickets, the registry of live sessions, the state store.
//   - mux*.go: streams over the link, each with its own credit window.
//   - link*.go: the session's byte stream across carriers: acks, pings, resend.
//   - record*.go: encrypted, padded records on one carrier, and their frames.
//   - budget.go: what the gateway's sessions may buffer together.
//
// The groups are files, not sub-packages: the layers share the errors callers branch
// on (ErrClosed, ErrRecord), the budget and its chunks, and Progress, all of which
// sub-packages would have to export to each other.
package session

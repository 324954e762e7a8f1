// Package fleet is what the edges of one fleet share: a replay cache, revoked secrets
// and keys, and the directory of which edge holds which session, in Redis; and the
// inter-edge link over which an edge relays a resume to the edge holding its session.
// A gateway without a fleet keeps all of it in memory and needs none of this.
//
// The files: fleet.go opens and closes a Fleet; redis.go is the connection, its keys
// and its health (up, down, the gaps); replay.go, revoke.go and directory.go are the
// three kinds of shared state; link.go, link_wire.go and relay.go the inter-edge link;
// metrics.go what an operator sees. docs/fleet.md is the operator's guide and the
// sizing, docs/protocol.md the link's wire format.
package fleet

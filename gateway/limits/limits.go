// Package limits holds the gateway's default and smallest limits, the name of its
// built-in probe service and the rule for a fleet edge's name: what configuration
// checks and fills in without linking the gateway and its fleet (metrics, Redis), so
// the client binary, which reads the same config package, stays small.
package limits

import (
	"fmt"
	"regexp"
	"time"

	"github.com/umbrella-edge/edge/transports/admission"
)

// Defaults of the gateway's own limits, for gateway.Config fields left 0. The limits a
// session enforces (streams, resume grace and buffer) have their defaults in session.
const (
	DefaultHandshakeTimeout   = 10 * time.Second
	DefaultMaxSessions        = 10000
	DefaultMaxHandshakes      = admission.DefaultSlots
	DefaultMaxHeld            = admission.DefaultMaxHeld
	DefaultBackendDialTimeout = 5 * time.Second
	DefaultDrainTimeout       = 30 * time.Second
	// DefaultFirstBytesTimeout is how long a carrier may stay silent after its
	// transport handshake. A client sends its hello at once, in the flight that ends
	// the transport handshake (or right after TCP's), so it comes within a round trip;
	// 2 s also covers one lost segment's retransmission (Linux's initial RTO is 1 s,
	// RFC 6298).
	DefaultFirstBytesTimeout = 2 * time.Second
	// MinFirstBytesTimeout is the floor for slow links: a shorter FirstBytesTimeout
	// is raised to it.
	MinFirstBytesTimeout = time.Second
	// MinMemoryBudget is the smallest memory budget a config may set: a few
	// sessions' worth.
	MinMemoryBudget = 1 << 20
)

// ProbeService is the name of the gateway's built-in service for umbrella probe: an
// echo, with which a tester measures round trips, a transfer past a censor's freeze
// and throughput through the same session a user's streams take. It reaches nothing
// but itself: it writes back what the stream sent, never more, so it amplifies
// nothing, at most the probe rates below, so it cannot take the gateway's bandwidth.
// A config's services cannot use the name.
const ProbeService = "probe"

// Defaults of the probe service's rates. A probe's transfer and throughput sample (1
// MiB or so each way) fit in one session's burst, so an idle gateway measures its
// carrier, not this limit; eight sessions' bursts at once still fit in the gateway's.
const (
	DefaultProbeSessionRate = 1 << 20 // bytes a second, per session
	DefaultProbeRate        = 8 << 20 // bytes a second, all sessions together
)

var edgeName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// CheckEdgeName says what is wrong with a fleet edge's name, if anything: it becomes
// part of Redis keys and of the link's certificates.
func CheckEdgeName(name string) error {
	if !edgeName.MatchString(name) {
		return fmt.Errorf("edge name %q: want 1 to 64 letters, digits, '.', '_' or '-'", name)
	}
	return nil
}

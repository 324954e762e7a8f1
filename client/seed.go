package client

import (
	"errors"
	"fmt"
	"time"

	"github.com/umbrella-edge/edge/bridge"
)

// Seed writes into the memory in stateDir that bridges[best] worked on the network this
// device is on now, with round trip rtt, so that a client with that state_dir and those
// bridge lines tries it first here (umbrella probe --seed-client). The network is
// identified as the client identifies it, by its default routes and the local address
// towards the first of bridges.
//
// A probe's success is not user traffic: it clears no demotion of the bridge or of its
// family, which only data a user's streams carried clears.
func Seed(stateDir string, bridges []bridge.Line, best int, rtt time.Duration) error {
	if stateDir == "" {
		return errors.New("client: seed: no state directory")
	}
	if best < 0 || best >= len(bridges) {
		return fmt.Errorf("client: seed: bridge %d of %d", best, len(bridges))
	}
	mem, err := loadMemory(stateDir)
	if mem.path == "" {
		return fmt.Errorf("client: seed: %w", err)
	}
	network := defaultNetwork(bridges[0].Addr)()
	return mem.seed(network, mem.bridgeKey(bridges[best]), rtt, time.Now())
}

// seed records bridge as the one that worked on network, leaving demotions as they are.
func (m *memory) seed(network, bridge string, rtt time.Duration, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.network(network, now)
	n.Worked = &worked{Bridge: bridge, At: now, RTTms: rtt.Milliseconds()}
	return m.saveLocked(now)
}

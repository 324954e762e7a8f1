package client

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/internal/statefile"
)

// Memory limits: what a network taught is forgotten after a week (a censor changes its
// rules, a user rarely comes back to a café), and a bridge that failed on user traffic is
// tried last for 30 s, doubling with each further failure up to an hour.
const (
	memoryTTL   = 7 * 24 * time.Hour
	demoteFirst = 30 * time.Second
	demoteMax   = time.Hour
	memoryFile  = "networks.json"
)

// memory remembers, per network, which bridge last carried real data and which bridges
// failed on user traffic. Networks and bridges are stored as salted hashes, so the file
// does not list where the user has been or which bridges they use. It is kept in
// StateDir/networks.json (mode 0600, replaced atomically); with no StateDir it lives
// only as long as the client.
type memory struct {
	path string // "" keeps the memory in this process only

	mu   sync.Mutex
	data memoryData
}

type memoryData struct {
	Version  int                   `json:"version"`
	Networks map[string]*netMemory `json:"networks"`
}

type netMemory struct {
	Seen    time.Time            `json:"seen"`
	Worked  *worked              `json:"worked,omitempty"`
	Demoted map[string]*demotion `json:"demoted,omitempty"`
}

// worked is the bridge that last moved real data on a network.
type worked struct {
	Bridge string    `json:"bridge"`
	At     time.Time `json:"at"`
	RTTms  int64     `json:"rtt_ms"`
}

// demotion is a bridge that failed on a network's user traffic.
type demotion struct {
	Failures int       `json:"failures"`
	Until    time.Time `json:"until"` // tried last until then
	At       time.Time `json:"at"`    // the last failure
}

const memoryVersion = 1

// loadMemory reads dir's memory file. A missing file is an empty memory; so is a file
// that does not parse (it is replaced at the next write), with the error returned for
// the caller to log.
func loadMemory(dir string) (*memory, error) {
	m := &memory{data: memoryData{Version: memoryVersion, Networks: map[string]*netMemory{}}}
	if dir == "" {
		return m, nil
	}
	m.path = filepath.Join(dir, memoryFile)
	raw, err := os.ReadFile(m.path)
	if errors.Is(err, fs.ErrNotExist) {
		return m, nil
	}
	if err != nil {
		return m, fmt.Errorf("read network memory: %w", err)
	}
	if err := m.parse(raw); err != nil {
		return m, fmt.Errorf("network memory %s: %w (starting afresh)", m.path, err)
	}
	return m, nil
}

func (m *memory) parse(raw []byte) error {
	var d memoryData
	if err := json.Unmarshal(raw, &d); err != nil {
		return err
	}
	if d.Version != memoryVersion {
		return fmt.Errorf("version %d, want %d", d.Version, memoryVersion)
	}
	for k, n := range d.Networks {
		if n == nil {
			delete(d.Networks, k)
			continue
		}
		for b, dm := range n.Demoted {
			if dm == nil {
				delete(n.Demoted, b)
			}
		}
	}
	if d.Networks == nil {
		d.Networks = map[string]*netMemory{}
	}
	m.data = d
	return nil
}

// hashName is how a network identity or a bridge is stored.
func hashName(kind, name string) string {
	sum := sha256.Sum256([]byte("umbrella-edge " + kind + " " + name))
	return hex.EncodeToString(sum[:8])
}

// bridgeKey names a bridge in the memory: its transport, for a person reading the file,
// and a hash of the whole line.
func bridgeKey(b bridge.Line) string {
	return b.Transport + "#" + hashName("bridge", b.String())
}

// lastWorked returns the bridge that last carried data on network, unless that was
// longer ago than memoryTTL, with the round-trip time it measured.
func (m *memory) lastWorked(network string, now time.Time) (bridge string, rtt time.Duration, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.data.Networks[hashName("network", network)]
	if n == nil || n.Worked == nil || now.Sub(n.Worked.At) > memoryTTL {
		return "", 0, false
	}
	return n.Worked.Bridge, time.Duration(n.Worked.RTTms) * time.Millisecond, true
}

// demoted returns until when bridge is tried last on network; zero when it is not.
func (m *memory) demoted(network, bridge string, now time.Time) time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.data.Networks[hashName("network", network)]
	if n == nil || n.Demoted[bridge] == nil {
		return time.Time{}
	}
	if d := n.Demoted[bridge]; now.Before(d.Until) {
		return d.Until
	}
	return time.Time{}
}

// worked records that bridge carried real data on network. It clears the bridge's
// demotion: only user traffic proves a bridge, never a probe.
func (m *memory) worked(network, bridge string, rtt time.Duration, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.network(network, now)
	n.Worked = &worked{Bridge: bridge, At: now, RTTms: rtt.Milliseconds()}
	delete(n.Demoted, bridge)
	return m.saveLocked(now)
}

// failed records that bridge failed user traffic on network and demotes it for twice as
// long as the last time. It returns until when.
func (m *memory) failed(network, bridge string, now time.Time) (time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.network(network, now)
	if n.Worked != nil && n.Worked.Bridge == bridge {
		n.Worked = nil
	}
	if n.Demoted == nil {
		n.Demoted = map[string]*demotion{}
	}
	d := n.Demoted[bridge]
	if d == nil {
		d = &demotion{}
		n.Demoted[bridge] = d
	}
	d.Failures++
	wait := demoteFirst
	for i := 1; i < d.Failures && wait < demoteMax; i++ {
		wait *= 2
	}
	d.At, d.Until = now, now.Add(min(wait, demoteMax))
	return d.Until, m.saveLocked(now)
}

func (m *memory) network(id string, now time.Time) *netMemory {
	k := hashName("network", id)
	n := m.data.Networks[k]
	if n == nil {
		n = &netMemory{}
		m.data.Networks[k] = n
	}
	n.Seen = now
	return n
}

// saveLocked forgets what expired and writes the file: a temporary file in the same
// directory, synced, then renamed over the old one, so a crash leaves either the old
// memory or the new one, never half of one.
func (m *memory) saveLocked(now time.Time) error {
	for k, n := range m.data.Networks {
		if now.Sub(n.Seen) > memoryTTL {
			delete(m.data.Networks, k)
			continue
		}
		for b, d := range n.Demoted {
			if now.Sub(d.At) > memoryTTL {
				delete(n.Demoted, b)
			}
		}
	}
	if m.path == "" {
		return nil
	}
	raw, err := json.MarshalIndent(&m.data, "", "  ")
	if err != nil {
		return err
	}
	if err := statefile.Replace(m.path, raw); err != nil {
		return fmt.Errorf("save network memory: %w", err)
	}
	return nil
}

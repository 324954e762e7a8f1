package client

import (
	"crypto/hmac"
	"crypto/rand"
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
	// saltFile holds the install's random key for the memory's hashes.
	saltFile = "networks.key"
	saltSize = 32
)

// memory remembers, per network, which bridge last carried real data, which bridges
// failed on user traffic, and the censor patterns seen per family of transports.
// Networks and bridges are stored as hashes keyed with a random salt of this install
// (StateDir/networks.key), so the file does not list where the user has been or which
// bridges they use, and a network identity, which is often guessable (a router's
// address), cannot be tested against it without the key. It is kept in
// StateDir/networks.json (mode 0600, replaced atomically); with no StateDir it lives
// only as long as the client.
type memory struct {
	path string // "" keeps the memory in this process only
	salt []byte

	mu   sync.Mutex
	data memoryData
}

type memoryData struct {
	Version  int                   `json:"version"`
	Networks map[string]*netMemory `json:"networks"`
	// Keys are the next identity keys gateways announced (keys.go): a hash of the
	// pinned key to the next one.
	Keys map[string]string `json:"keys,omitempty"`
}

type netMemory struct {
	Seen     time.Time                `json:"seen"`
	Worked   *worked                  `json:"worked,omitempty"`
	Demoted  map[string]*demotion     `json:"demoted,omitempty"`
	Families map[string]*familyRecord `json:"families,omitempty"`
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

// memoryVersion 2: keys are hashes keyed with the install's salt (version 1's were
// plain SHA-256, and are forgotten).
const memoryVersion = 2

// loadMemory reads dir's memory file, and its salt, made on first use. A missing file
// is an empty memory; so is a file that does not parse (it is replaced at the next
// write), with the error returned for the caller to log. A salt that cannot be read
// or made leaves a memory that lives only in this process.
func loadMemory(dir string) (*memory, error) {
	m := &memory{data: memoryData{Version: memoryVersion, Networks: map[string]*netMemory{}}}
	if dir == "" {
		m.salt = make([]byte, saltSize)
		rand.Read(m.salt)
		return m, nil
	}
	salt, err := loadSalt(filepath.Join(dir, saltFile))
	if err != nil {
		m.salt = make([]byte, saltSize)
		rand.Read(m.salt)
		return m, fmt.Errorf("network memory kept in this process only: %w", err)
	}
	m.path, m.salt = filepath.Join(dir, memoryFile), salt
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
		for f, fr := range n.Families {
			if fr == nil {
				delete(n.Families, f)
			}
		}
	}
	if d.Networks == nil {
		d.Networks = map[string]*netMemory{}
	}
	m.data = d
	return nil
}

// loadSalt reads the install's salt at path, making it on first use (mode 0600,
// never replaced once there).
func loadSalt(path string) ([]byte, error) {
	salt := make([]byte, saltSize)
	rand.Read(salt)
	if _, err := statefile.Create(path, salt); err != nil {
		return nil, err
	}
	got, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(got) != saltSize {
		return nil, fmt.Errorf("%s holds %d bytes, want %d (remove it to start afresh)", path, len(got), saltSize)
	}
	return got, nil
}

// hashName is how a network identity or a bridge is stored: HMAC-SHA256 under the
// install's salt, cut to 64 bits.
func (m *memory) hashName(kind, name string) string {
	h := hmac.New(sha256.New, m.salt)
	h.Write([]byte("umbrella-edge " + kind + " " + name))
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// bridgeKey names a bridge in the memory: its transport, for a person reading the file,
// and a hash of the whole line.
func (m *memory) bridgeKey(b bridge.Line) string {
	return b.Transport + "#" + m.hashName("bridge", b.String())
}

func (m *memory) network(id string, now time.Time) *netMemory {
	k := m.hashName("network", id)
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
		for f, r := range n.Families {
			if r.expired(now) {
				delete(n.Families, f)
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

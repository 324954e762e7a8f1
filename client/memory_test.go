package client

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/umbrella-edge/edge/client/failure"
)

func TestMemoryIsPersistedPrivatelyAndAtomically(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state") // created on the first write
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	m, err := loadMemory(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.worked("home", "utls#1", familyTLS, 40*time.Millisecond, now); err != nil {
		t.Fatal(err)
	}
	if _, err := m.failed("home", "tcp#2", now); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(filepath.Join(dir, memoryFile))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("memory file mode %v, want 0600", info.Mode().Perm())
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Errorf("state dir holds %d files, want only %s and %s (no temporary file left)", len(ents), memoryFile, saltFile)
	}
	salt, err := os.Stat(filepath.Join(dir, saltFile))
	if err != nil || salt.Mode().Perm() != 0o600 || salt.Size() != saltSize {
		t.Errorf("salt file: %v, %v; want %d bytes, mode 0600", salt, err, saltSize)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, memoryFile))
	if strings.Contains(string(raw), "home") {
		t.Errorf("the file names the network in clear:\n%s", raw)
	}

	again, err := loadMemory(dir)
	if err != nil {
		t.Fatal(err)
	}
	later := now.Add(time.Minute)
	if b, rtt, ok := again.lastWorked("home", later); !ok || b != "utls#1" || rtt != 40*time.Millisecond {
		t.Errorf("reloaded lastWorked = %q, %v, %v; want utls#1, 40ms", b, rtt, ok)
	}
	if again.demoted("home", "tcp#2", now.Add(time.Second)).IsZero() {
		t.Error("reloaded memory forgot the demotion")
	}
	if _, _, ok := again.lastWorked("café", later); ok {
		t.Error("another network inherited what worked at home")
	}
}

func TestMemoryForgetsAfterAWeek(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	dir := t.TempDir()
	m, _ := loadMemory(dir)
	m.worked("home", "utls#1", familyTLS, 0, now)
	m.failed("home", "tcp#2", now)
	for _, tc := range []struct {
		after  time.Duration
		worked bool
	}{
		{memoryTTL - time.Minute, true},
		{memoryTTL + time.Minute, false},
	} {
		if _, _, ok := m.lastWorked("home", now.Add(tc.after)); ok != tc.worked {
			t.Errorf("after %v: remembered %v, want %v", tc.after, ok, tc.worked)
		}
	}
	// A write a week later drops the expired network from the file.
	m.worked("café", "tcp#2", familyTLS, 0, now.Add(memoryTTL+time.Hour))
	reloaded, _ := loadMemory(dir)
	if n := len(reloaded.data.Networks); n != 1 {
		t.Errorf("file keeps %d networks, want 1 (home expired)", n)
	}
}

func TestDemotionDoublesAndDataClearsIt(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	m, _ := loadMemory("")
	var got []time.Duration
	for range 10 {
		until, _ := m.failed("home", "tcp#1", now)
		got = append(got, until.Sub(now))
	}
	want := []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute,
		8 * time.Minute, 16 * time.Minute, 32 * time.Minute, time.Hour, time.Hour, time.Hour}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("demotions %v, want %v", got, want)
		}
	}
	if m.demoted("home", "tcp#1", now.Add(59*time.Minute)).IsZero() {
		t.Error("demotion ended early")
	}
	if !m.demoted("home", "tcp#1", now.Add(61*time.Minute)).IsZero() {
		t.Error("demotion outlived its hour")
	}
	m.worked("home", "tcp#1", familyTLS, 0, now)
	if !m.demoted("home", "tcp#1", now).IsZero() {
		t.Error("carrying data did not clear the demotion")
	}
	if until, _ := m.failed("home", "tcp#1", now); until.Sub(now) != demoteFirst {
		t.Errorf("after data, the next demotion lasts %v, want %v again", until.Sub(now), demoteFirst)
	}
	if _, _, ok := m.lastWorked("home", now); ok {
		t.Error("a bridge that failed is still remembered as the one that worked")
	}
}

func TestMemoryStartsAfreshFromABadFile(t *testing.T) {
	for _, content := range []string{"", "{", `{"version":99,"networks":{}}`, `[1,2]`,
		`{"version":2,"networks":{"x":null}}`, `{"version":1,"networks":{}}`} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, memoryFile), []byte(content), 0o600)
		m, err := loadMemory(dir)
		if m == nil {
			t.Fatalf("%q: no memory", content)
		}
		if err == nil && content != `{"version":2,"networks":{"x":null}}` {
			t.Errorf("%q: no error to log", content)
		}
		// It must still work and write a good file.
		if err := m.worked("home", "tcp#1", familyTLS, 0, time.Now()); err != nil {
			t.Errorf("%q: %v", content, err)
		}
	}
}

func FuzzMemoryFile(f *testing.F) {
	f.Add([]byte(`{"version":2,"networks":{"ab":{"seen":"2026-11-23T12:00:00Z","worked":{"bridge":"tcp#1","at":"2026-11-23T12:00:00Z","rtt_ms":5},"demoted":{"utls#2":{"failures":2,"until":"2026-11-23T12:01:00Z","at":"2026-11-23T12:00:00Z"}},"families":{"tls":{"patterns":[{"cause":"frozen","bytes":16384,"at":"2026-11-23T12:00:00Z"}]}}}}}`))
	f.Add([]byte(`{"version":2,"networks":{"ab":{"demoted":{"x":null},"families":{"x":null,"y":{"patterns":[{"cause":"nonsense"}]}}}}}`))
	f.Add([]byte(`{"version":2}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m := &memory{salt: make([]byte, saltSize)}
		if m.parse(raw) != nil {
			return
		}
		now := time.Now()
		m.lastWorked("ab", now)
		m.demoted("ab", "x", now)
		m.failed("ab", "x", now)
		m.familyDemoted("ab", familyTLS, now)
		m.familyFailed("ab", familyTLS, &failure.Error{Cause: failure.Frozen, Bytes: 16 << 10}, now)
		m.worked("ab", "y", familyTLS, 0, now)
	})
}

// Two installs store one network under different names: a file copied off one device
// cannot be matched against another's, nor tested for a guessed network identity
// without the install's key, which stays the same across restarts.
func TestMemoryKeysAreSaltedPerInstall(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	keys := func(dir string) []string {
		m, err := loadMemory(dir)
		if err != nil {
			t.Fatal(err)
		}
		m.worked("home", "tcp#1", familyStream, 0, now)
		var out []string
		for k := range m.data.Networks {
			out = append(out, k)
		}
		return out
	}
	a, b := t.TempDir(), t.TempDir()
	ka, kb, again := keys(a), keys(b), keys(a)
	if len(ka) != 1 || len(kb) != 1 || ka[0] == kb[0] {
		t.Errorf("two installs store the network as %v and %v, want one name each, different", ka, kb)
	}
	if again[0] != ka[0] {
		t.Errorf("a restart stores the network as %s, want %s as before", again[0], ka[0])
	}
	saltA, _ := os.ReadFile(filepath.Join(a, saltFile))
	saltB, _ := os.ReadFile(filepath.Join(b, saltFile))
	if bytes.Equal(saltA, saltB) {
		t.Error("two installs have the same salt")
	}
}

func TestFamilyDemotedByAPatternSeenTwice(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	frozen := func(n int64) *failure.Error { return &failure.Error{Cause: failure.Frozen, Bytes: n} }
	reset := &failure.Error{Cause: failure.Reset}
	for _, tc := range []struct {
		name    string
		seen    []*failure.Error // one a minute
		demoted bool
	}{
		{"one freeze", []*failure.Error{frozen(16 << 10)}, false},
		{"two freezes at about 16 KB", []*failure.Error{frozen(15 << 10), frozen(19 << 10)}, true},
		{"a freeze and a reset", []*failure.Error{frozen(16 << 10), reset}, false},
		{"freezes at 16 KB and 2 MB", []*failure.Error{frozen(16 << 10), frozen(2 << 20)}, false},
		{"two resets", []*failure.Error{reset, reset}, true},
		{"two refusals are no censor's pattern", []*failure.Error{{Cause: failure.Refused}, {Cause: failure.Refused}}, false},
		{"a reset, then silence twice", []*failure.Error{reset, {Cause: failure.Silent}, {Cause: failure.Silent}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := loadMemory("")
			var until time.Time
			at := now
			for _, e := range tc.seen {
				until, _ = m.familyFailed("home", familyTLS, e, at)
				at = at.Add(time.Minute)
			}
			if got := !m.familyDemoted("home", familyTLS, at).IsZero(); got != tc.demoted || got != !until.IsZero() {
				t.Errorf("demoted %v (until %v), want %v", got, until, tc.demoted)
			}
			if !m.familyDemoted("home", familyUDP, at).IsZero() || !m.familyDemoted("café", familyTLS, at).IsZero() {
				t.Error("another family or network was demoted too")
			}
		})
	}
	m, _ := loadMemory("")
	m.familyFailed("home", familyTLS, reset, now)
	if until, _ := m.familyFailed("home", familyTLS, reset, now.Add(patternWindow+time.Second)); !until.IsZero() {
		t.Errorf("a pattern older than %v counted: demoted until %v", patternWindow, until)
	}
	m.familyFailed("home", familyTLS, reset, now.Add(patternWindow+2*time.Second))
	if m.familyDemoted("home", familyTLS, now.Add(patternWindow+familyDemoteFirst)).IsZero() {
		t.Error("the family's demotion ended early")
	}
	m.worked("home", "utls#1", familyTLS, 0, now.Add(patternWindow+time.Minute))
	if !m.familyDemoted("home", familyTLS, now.Add(patternWindow+time.Minute)).IsZero() {
		t.Error("data carried by the family did not clear its demotion")
	}
}

// A probe's seed puts its bridge first on the network, but a probe passing is no user
// traffic: the bridge's demotion and its family's stay.
func TestSeedClearsNoDemotion(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	m, _ := loadMemory("")
	m.failed("home", "tcp#1", now)
	for range 2 {
		m.familyFailed("home", familyStream, &failure.Error{Cause: failure.Reset}, now)
	}
	if err := m.seed("home", "tcp#1", 40*time.Millisecond, now); err != nil {
		t.Fatal(err)
	}
	if b, rtt, ok := m.lastWorked("home", now); !ok || b != "tcp#1" || rtt != 40*time.Millisecond {
		t.Errorf("lastWorked after the seed: %q, %v, %v; want tcp#1, 40ms", b, rtt, ok)
	}
	if m.demoted("home", "tcp#1", now).IsZero() || m.familyDemoted("home", familyStream, now).IsZero() {
		t.Error("the seed cleared a demotion that only user traffic clears")
	}
}

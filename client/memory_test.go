package client

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestMemoryIsPersistedPrivatelyAndAtomically(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state") // created on the first write
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	m, err := loadMemory(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := m.worked("home", "utls#1", 40*time.Millisecond, now); err != nil {
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
	if len(ents) != 1 {
		t.Errorf("state dir holds %d files, want only %s (no temporary file left)", len(ents), memoryFile)
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
	m.worked("home", "utls#1", 0, now)
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
	m.worked("café", "tcp#2", 0, now.Add(memoryTTL+time.Hour))
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
	m.worked("home", "tcp#1", 0, now)
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
		`{"version":1,"networks":{"x":null}}`} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, memoryFile), []byte(content), 0o600)
		m, err := loadMemory(dir)
		if m == nil {
			t.Fatalf("%q: no memory", content)
		}
		if err == nil && content != `{"version":1,"networks":{"x":null}}` {
			t.Errorf("%q: no error to log", content)
		}
		// It must still work and write a good file.
		if err := m.worked("home", "tcp#1", 0, time.Now()); err != nil {
			t.Errorf("%q: %v", content, err)
		}
	}
}

func FuzzMemoryFile(f *testing.F) {
	f.Add([]byte(`{"version":1,"networks":{"ab":{"seen":"2026-11-23T12:00:00Z","worked":{"bridge":"tcp#1","at":"2026-11-23T12:00:00Z","rtt_ms":5},"demoted":{"utls#2":{"failures":2,"until":"2026-11-23T12:01:00Z","at":"2026-11-23T12:00:00Z"}}}}}`))
	f.Add([]byte(`{"version":1,"networks":{"ab":{"demoted":{"x":null}}}}`))
	f.Add([]byte(`{"version":1}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m := &memory{}
		if m.parse(raw) != nil {
			return
		}
		now := time.Now()
		m.lastWorked("ab", now)
		m.demoted("ab", "x", now)
		m.failed("ab", "x", now)
		m.worked("ab", "y", 0, now)
	})
}

package replay

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func openJournal(t *testing.T, path string, c *clock) *Filter {
	t.Helper()
	f, err := Open(path, Config{Now: c.now})
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// crash leaves the journal as a process that dies leaves it: its descriptors closed
// by the kernel, nothing synced or written out.
func crash(f *Filter) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	f.j.f.Close()
	f.j.lock.Close()
}

func TestJournalRemembersAcrossRestarts(t *testing.T) {
	stops := []struct {
		name string
		stop func(*Filter)
	}{
		{"closed", func(f *Filter) { f.Close() }},
		{"crashed", crash},
	}
	for _, s := range stops {
		t.Run(s.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state", "replay.journal")
			c := newClock()
			f := openJournal(t, path, c)
			mustCheck(t, f, keyN(1), c.now().Add(time.Minute))
			mustCheck(t, f, keyN(2), c.now().Add(2*time.Minute))
			s.stop(f)

			c.advance(90 * time.Second)
			f = openJournal(t, path, c)
			if mustCheck(t, f, keyN(1), c.now().Add(time.Minute)) {
				t.Error("a key that expired while the process was down is still seen")
			}
			if !mustCheck(t, f, keyN(2), c.now().Add(time.Minute)) {
				t.Error("the restarted filter forgot an unexpired key of its last run")
			}
			if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("journal: %v, mode %v; want 0600", err, fi.Mode().Perm())
			}
		})
	}
}

func TestJournalHasOneHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "replay.journal")
	c := newClock()
	f := openJournal(t, path, c)
	if _, err := Open(path, Config{Now: c.now}); !errors.Is(err, ErrInUse) {
		t.Fatalf("a second Open of a held journal: %v; want ErrInUse", err)
	}
	f.Close()
	openJournal(t, path, c)
}

func TestJournalIgnoresATornLastRecord(t *testing.T) {
	path := filepath.Join(t.TempDir(), "replay.journal")
	c := newClock()
	f := openJournal(t, path, c)
	mustCheck(t, f, keyN(1), c.now().Add(time.Minute))
	f.Close()
	torn := appendRecord(nil, entry{keyN(2), c.now().Add(time.Minute).UnixNano()})[:recordSize/2]
	af, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	af.Write(torn)
	af.Close()

	f = openJournal(t, path, c)
	if !mustCheck(t, f, keyN(1), c.now().Add(time.Minute)) {
		t.Error("the key before the torn record was lost")
	}
	// The torn bytes are gone, so records written from now on line up.
	mustCheck(t, f, keyN(3), c.now().Add(time.Minute))
	f.Close()
	f = openJournal(t, path, c)
	if !mustCheck(t, f, keyN(3), c.now().Add(time.Minute)) {
		t.Error("a key added after a torn record was not read back")
	}
}

func TestJournalRefusesAFileNotItsOwn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "replay.journal")
	if err := os.WriteFile(path, []byte("# some other file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, Config{}); err == nil {
		t.Fatal("Open of a file that is no journal succeeded; want an error naming it")
	}
	if _, err := Open(path, Config{}); errors.Is(err, ErrInUse) {
		t.Fatal("a failed Open kept the journal's lock")
	}
}

func TestJournalStaysNearTheLiveKeys(t *testing.T) {
	path := filepath.Join(t.TempDir(), "replay.journal")
	c := newClock()
	f := openJournal(t, path, c)
	const adds = 20 * compactSlack
	for i := range adds {
		mustCheck(t, f, keyN(i), c.now().Add(time.Second))
		c.advance(10 * time.Millisecond) // about 100 keys live at any time
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if max := int64(len(journalMagic) + (3*compactSlack)*recordSize); fi.Size() > max {
		t.Fatalf("journal is %d bytes after %d adds with ~100 live; want at most %d", fi.Size(), adds, max)
	}
}

// FuzzParseJournal checks that any file parses without panicking, and that what is
// written reads back.
func FuzzParseJournal(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte(journalMagic))
	f.Add(appendRecord([]byte(journalMagic), entry{keyN(1), 42}))
	f.Add([]byte("umbrella replay0xxxxxxxx"))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := parseJournal(data)
		if err != nil {
			return
		}
		out := []byte(journalMagic)
		for _, e := range entries {
			out = appendRecord(out, e)
		}
		if len(data) > 0 && !bytes.HasPrefix(data, out) {
			t.Fatalf("parsed %d entries that do not write back as the file's prefix", len(entries))
		}
	})
}

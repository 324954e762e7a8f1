package replay

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/umbrella-edge/edge/internal/statefile"
)

// A journal keeps a Filter's keys across restarts, in one file:
//
//	journal = magic (16 bytes) || record*
//	record  = key (32 bytes) || BE64(expiry, Unix nanoseconds)
//
// Each key is appended, one write(2) of a whole record, before CheckAndAdd returns: a
// process that crashes (killed, out of memory, a panic) has still handed the kernel
// every key it acted on. At open, and whenever the file holds more than twice the live
// keys, it is rewritten with the live keys alone, whole or not at all (a new file
// renamed over it). A lock file beside it lets one process at a time hold it.
const (
	journalMagic = "umbrella replay1" // 16 bytes: the format and its version
	recordSize   = 32 + 8
	// compactSlack keeps a small journal from being rewritten on every add.
	compactSlack = 4096
)

// ErrInUse is returned by Open when another Filter, in this process or another,
// holds the journal.
var ErrInUse = errors.New("replay: journal in use by another process")

type journal struct {
	path    string
	f       *os.File // appends; nil once a rewrite lost it
	lock    *os.File
	records int // records in the file
}

// Open returns a Filter that keeps a journal at path (its directory is made 0700
// if missing, the file is 0600), holding every unexpired key the journal already
// has. Close releases the journal for the next process.
func Open(path string, cfg Config) (*Filter, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("replay journal: %w", err)
	}
	lock, err := lockFile(path + ".lock")
	if err != nil {
		return nil, err
	}
	f := New(cfg)
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		lock.Close()
		return nil, fmt.Errorf("replay journal: %w", err)
	}
	entries, err := parseJournal(data)
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("replay journal %s (deleting it forgets which hellos were answered in the last few minutes): %w", path, err)
	}
	now := f.now().UnixNano()
	for _, e := range entries {
		if e.expiry > now {
			f.add(e, now)
		}
	}
	j := &journal{path: path, lock: lock}
	if err := j.rewrite(f.live()); err != nil {
		lock.Close()
		return nil, err
	}
	f.j = j
	return f, nil
}

// parseJournal reads a journal's records. A record cut short at the end (the machine
// stopped mid-write) is left out; an empty file is an empty journal.
func parseJournal(data []byte) ([]entry, error) {
	if len(data) == 0 {
		return nil, nil
	}
	if len(data) < len(journalMagic) || !bytes.Equal(data[:len(journalMagic)], []byte(journalMagic)) {
		return nil, errors.New("not a replay journal of this version")
	}
	data = data[len(journalMagic):]
	out := make([]entry, 0, len(data)/recordSize)
	for ; len(data) >= recordSize; data = data[recordSize:] {
		var e entry
		copy(e.key[:], data)
		e.expiry = int64(binary.BigEndian.Uint64(data[32:]))
		out = append(out, e)
	}
	return out, nil
}

func appendRecord(dst []byte, e entry) []byte {
	dst = append(dst, e.key[:]...)
	return binary.BigEndian.AppendUint64(dst, uint64(e.expiry))
}

// append writes one record; when the file has grown past twice the live keys it is
// rewritten with them (live is called only then).
func (j *journal) append(e entry, liveKeys int, live func() []entry) error {
	if j.f == nil {
		return fmt.Errorf("replay journal %s: lost after a failed rewrite", j.path)
	}
	var rec [recordSize]byte
	if _, err := j.f.Write(appendRecord(rec[:0], e)); err != nil {
		return fmt.Errorf("replay journal: %w", err)
	}
	j.records++
	if j.records > 2*liveKeys+compactSlack {
		return j.rewrite(live())
	}
	return nil
}

// rewrite replaces the journal with entries, whole or not at all, and appends to the
// new file from then on.
func (j *journal) rewrite(entries []entry) error {
	data := make([]byte, 0, len(journalMagic)+len(entries)*recordSize)
	data = append(data, journalMagic...)
	for _, e := range entries {
		data = appendRecord(data, e)
	}
	if err := statefile.Replace(j.path, data); err != nil {
		return fmt.Errorf("replay journal: %w", err)
	}
	if j.f != nil {
		j.f.Close()
	}
	f, err := os.OpenFile(j.path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		j.f = nil
		return fmt.Errorf("replay journal: %w", err)
	}
	j.f, j.records = f, len(entries)
	return nil
}

// close syncs the journal, so that it survives the machine too, and releases it.
func (j *journal) close() error {
	var err error
	if j.f != nil {
		err = j.f.Sync()
		if cerr := j.f.Close(); err == nil {
			err = cerr
		}
	}
	if cerr := j.lock.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("replay journal: %w", err)
	}
	return nil
}

package fleet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/umbrella-edge/edge/session"
)

// entry is a session's line in the directory: the edge that holds it, and the state
// a session.Store keeps. Short names keep it near 100 bytes (docs/fleet.md).
type entry struct {
	Edge       string `json:"e"`
	Created    int64  `json:"c"`           // Unix seconds
	Resumed    int64  `json:"r,omitempty"` // Unix seconds; 0 if never
	Transport  string `json:"t"`
	Address    string `json:"a"`
	ServerName string `json:"n,omitempty"`
}

func entryOf(st session.State, edge string) entry {
	e := entry{Edge: edge, Created: st.Created.Unix(), Transport: st.Endpoint.Transport,
		Address: st.Endpoint.Address, ServerName: st.Endpoint.ServerName}
	if !st.Resumed.IsZero() {
		e.Resumed = st.Resumed.Unix()
	}
	return e
}

func (e entry) state(id session.ID) session.State {
	st := session.State{ID: id, Created: time.Unix(e.Created, 0),
		Endpoint: session.Endpoint{Transport: e.Transport, Address: e.Address, ServerName: e.ServerName}}
	if e.Resumed != 0 {
		st.Resumed = time.Unix(e.Resumed, 0)
	}
	return st
}

// directory says which edge holds which session, for a lease that the holder renews
// while the session lives: an edge that dies leaves entries that expire on their own.
// It is the gateway's session.Store.
type directory struct {
	f    *Fleet
	mu   sync.Mutex
	mine map[session.ID]entry // this edge's sessions, which it renews
}

func newDirectory(f *Fleet) *directory {
	return &directory{f: f, mine: make(map[session.ID]entry)}
}

// Directory returns the fleet's session directory, as the gateway's session.Store.
func (f *Fleet) Directory() session.Store { return f.dir }

func (d *directory) Put(ctx context.Context, st session.State) error {
	e := entryOf(st, d.f.cfg.Edge)
	d.mu.Lock()
	d.mine[st.ID] = e
	d.mu.Unlock()
	v, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("fleet: directory: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, d.f.cfg.Wait)
	defer cancel()
	if err := d.f.do(d.f.rdb.Set(ctx, d.f.keys.session(st.ID[:]), v, d.f.cfg.Lease).Err()); err != nil {
		return fmt.Errorf("fleet: directory: put %x: %w", st.ID[:4], err)
	}
	return nil
}

func (d *directory) Get(ctx context.Context, id session.ID) (session.State, error) {
	e, err := d.lookup(ctx, id)
	if err != nil {
		return session.State{}, err
	}
	return e.state(id), nil
}

func (d *directory) lookup(ctx context.Context, id session.ID) (entry, error) {
	var e entry
	ctx, cancel := context.WithTimeout(ctx, d.f.cfg.Wait)
	defer cancel()
	v, err := d.f.rdb.Get(ctx, d.f.keys.session(id[:])).Bytes()
	if err == redis.Nil {
		return e, fmt.Errorf("fleet: directory: %x: %w", id[:4], session.ErrNotFound)
	}
	if err := d.f.do(err); err != nil {
		return e, fmt.Errorf("fleet: directory: get %x: %w", id[:4], err)
	}
	e, err = parseEntry(v)
	if err != nil {
		return e, fmt.Errorf("fleet: directory: entry of %x: %v: %w", id[:4], err, session.ErrNotFound)
	}
	return e, nil
}

// An entry's times are Unix seconds from Go's zero time (a state never timed) to the
// end of year 9999; a resume is never before 1970.
const (
	minEntryTime = -62135596800
	maxEntryTime = 253402300799
)

// parseEntry reads a directory entry as Redis holds it. One that names no edge, or
// times no edge writes, is treated as absent: a session cannot be relayed to nowhere.
func parseEntry(v []byte) (entry, error) {
	var e entry
	if err := json.Unmarshal(v, &e); err != nil {
		return entry{}, fmt.Errorf("does not parse: %w", err)
	}
	switch {
	case e.Edge == "":
		return entry{}, errors.New("names no edge")
	case e.Created < minEntryTime || e.Created > maxEntryTime || e.Resumed < 0 || e.Resumed > maxEntryTime:
		return entry{}, fmt.Errorf("created %d, resumed %d: not times an edge writes", e.Created, e.Resumed)
	}
	return e, nil
}

func (d *directory) Delete(ctx context.Context, id session.ID) error {
	d.mu.Lock()
	delete(d.mine, id)
	d.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, d.f.cfg.Wait)
	defer cancel()
	// An entry that could not be deleted names this edge until its lease ends; a
	// resume relayed here meanwhile is told the session is gone, as it should be.
	return d.f.do(d.f.rdb.Del(ctx, d.f.keys.session(id[:])).Err())
}

// renew writes this edge's entries again, with a fresh lease: also those a Redis
// that restarted empty lost.
func (d *directory) renew(ctx context.Context) error {
	d.mu.Lock()
	ids := slices.Collect(maps.Keys(d.mine))
	entries := make([]entry, len(ids))
	for i, id := range ids {
		entries[i] = d.mine[id]
	}
	d.mu.Unlock()
	const batch = 1000 // a pipeline's replies are held in memory until it ends
	for start := 0; start < len(ids); start += batch {
		pipe := d.f.rdb.Pipeline()
		for i := start; i < min(start+batch, len(ids)); i++ {
			v, _ := json.Marshal(entries[i])
			pipe.Set(ctx, d.f.keys.session(ids[i][:]), v, d.f.cfg.Lease)
		}
		if err := d.f.do(execAll(ctx, pipe)); err != nil {
			return fmt.Errorf("fleet: directory: renew: %w", err)
		}
	}
	return nil
}

// edgeAddr returns where another edge's link listens, or an error wrapping
// session.ErrNotFound if it is gone: its heartbeat stopped.
func (f *Fleet) edgeAddr(ctx context.Context, name string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, f.cfg.Wait)
	defer cancel()
	addr, err := f.rdb.Get(ctx, f.keys.edge(name)).Result()
	if err == redis.Nil {
		return "", fmt.Errorf("fleet: edge %s is gone (no heartbeat for %v): %w", name, edgeTTL, session.ErrNotFound)
	}
	if err := f.do(err); err != nil {
		return "", fmt.Errorf("fleet: edge %s: %w", name, err)
	}
	return addr, nil
}

package session

import "sync"

// Registry holds one gateway process's live sessions, so that a resume hello arriving
// on any of its listeners re-attaches its session instead of opening one. It does not
// outlive the process: tickets of a restarted gateway are answered with a rejection.
type Registry struct {
	mu       sync.Mutex
	sessions map[ID]*Session
	draining bool
}

func NewRegistry() *Registry {
	return &Registry{sessions: make(map[ID]*Session)}
}

// Len returns how many sessions are live, attached or detached.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.sessions)
}

// Detached returns how many live sessions have no carrier, waiting for a resume.
func (r *Registry) Detached() int {
	n := 0
	for _, s := range r.snapshot() {
		if !s.link.attached() {
			n++
		}
	}
	return n
}

// Drain ends every detached session now, and from now on ends sessions when their
// carrier dies instead of waiting for a resume: a gateway shutting down has no
// reason to keep them.
func (r *Registry) Drain() {
	r.mu.Lock()
	r.draining = true
	r.mu.Unlock()
	for _, s := range r.snapshot() {
		if !s.link.attached() {
			s.end(errDrained, false)
		}
	}
}

func (r *Registry) snapshot() []*Session {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*Session, 0, len(r.sessions))
	for _, s := range r.sessions {
		out = append(out, s)
	}
	return out
}

func (r *Registry) isDraining() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.draining
}

func (r *Registry) add(s *Session) {
	r.mu.Lock()
	r.sessions[s.id] = s
	r.mu.Unlock()
}

func (r *Registry) remove(s *Session) {
	r.mu.Lock()
	if r.sessions[s.id] == s {
		delete(r.sessions, s.id)
	}
	r.mu.Unlock()
}

// get returns the live session with that ID, or nil; a nil Registry has none.
func (r *Registry) get(id ID) *Session {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sessions[id]
}

package admission

import (
	"container/list"
	"sync"
)

// DefaultMaxHeld bounds the rejected peers a gateway holds in silence (or in the decoy
// site) at once, across its listeners. Each costs a file descriptor, a goroutine and
// its socket buffers; at the default hold of 10–20 s it lets about 200 rejections a
// second run their full time before the oldest are cut short.
const DefaultMaxHeld = 4096

// Held caps the rejected peers held at once: past the cap, the oldest is dropped (its
// hold ends early, the way it would have ended). The nil *Held caps nothing.
type Held struct {
	max int

	mu     sync.Mutex
	order  list.List // *hold, oldest first
	closed bool
}

type hold struct {
	drop   func()
	onDrop func(string)
	elem   *list.Element // nil once released or dropped
}

// NewHeld returns a cap of max held peers; 0 means DefaultMaxHeld.
func NewHeld(max int) *Held {
	if max <= 0 {
		max = DefaultMaxHeld
	}
	return &Held{max: max}
}

func (h *Held) add(drop func(), onDrop func(string)) (release func(), ok bool) {
	if h == nil {
		return func() {}, true
	}
	e := &hold{drop: drop, onDrop: onDrop}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return func() {}, false
	}
	e.elem = h.order.PushBack(e)
	var oldest *hold
	if h.order.Len() > h.max {
		oldest = h.order.Front().Value.(*hold)
		h.removeLocked(oldest)
	}
	h.mu.Unlock()
	if oldest != nil {
		oldest.onDrop(ReasonHeldFull)
		oldest.drop()
	}
	return func() {
		h.mu.Lock()
		if e.elem != nil {
			h.removeLocked(e)
		}
		h.mu.Unlock()
	}, true
}

func (h *Held) removeLocked(e *hold) {
	h.order.Remove(e.elem)
	e.elem = nil
}

// Len is how many peers are held now.
func (h *Held) Len() int {
	if h == nil {
		return 0
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.order.Len()
}

// Close drops every hold now and refuses new ones: a draining gateway has no one to
// keep silent for.
func (h *Held) Close() {
	if h == nil {
		return
	}
	h.mu.Lock()
	h.closed = true
	var all []*hold
	for e := h.order.Front(); e != nil; e = e.Next() {
		all = append(all, e.Value.(*hold))
	}
	for _, e := range all {
		h.removeLocked(e)
	}
	h.mu.Unlock()
	for _, e := range all {
		e.drop()
	}
}

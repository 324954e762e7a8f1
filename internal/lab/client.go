package lab

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/umbrella-edge/edge/client"
)

// Client is a client of the lab that records its events.
type Client struct {
	*client.Client

	mu      sync.Mutex
	events  []Event
	changed chan struct{} // closed and replaced at each event
}

// Event is a client event and when it came.
type Event struct {
	client.Event
	At time.Time
}

// Client makes a client of the lab from cfg: no Bridges means every line of Bridges,
// no Transports the lab's registry, no Logger the lab's. cfg.OnEvent still gets every
// event. Close the client before the lab.
func (l *Lab) Client(cfg client.Config) (*Client, error) {
	if cfg.Bridges == nil {
		cfg.Bridges = l.Bridges()
	}
	if cfg.Transports == nil {
		cfg.Transports = l.Registry
	}
	if cfg.Logger == nil {
		cfg.Logger = l.log.With("component", "client")
	}
	c := &Client{changed: make(chan struct{})}
	onEvent := cfg.OnEvent
	cfg.OnEvent = func(e client.Event) {
		c.mu.Lock()
		c.events = append(c.events, Event{Event: e, At: time.Now()})
		close(c.changed)
		c.changed = make(chan struct{})
		c.mu.Unlock()
		if onEvent != nil {
			onEvent(e)
		}
	}
	cc, err := client.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	c.Client = cc
	return c, nil
}

// Events returns the events so far, oldest first.
func (c *Client) Events() []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Event(nil), c.events...)
}

// WaitEvents waits until done holds for the events so far, and returns them. It
// returns ctx's error, with the events, if ctx ends first.
func (c *Client) WaitEvents(ctx context.Context, done func([]Event) bool) ([]Event, error) {
	for {
		c.mu.Lock()
		events, changed := append([]Event(nil), c.events...), c.changed
		c.mu.Unlock()
		if done(events) {
			return events, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return events, ctx.Err()
		}
	}
}

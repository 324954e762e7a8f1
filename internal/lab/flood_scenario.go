package lab

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/umbrella-edge/edge/bridge"
	"github.com/umbrella-edge/edge/client"
)

// FloodScenario is issue 10's flood in the lab's world: chatters on the listeners
// under test keep talking while a flood fills those listeners at the gateway's own
// addresses, and new clients arrive one after another.
type FloodScenario struct {
	// Lines are the listeners under test: the flood goes to their Listen addresses,
	// chatters and new clients through their bridge lines.
	Lines []Line
	// Flood is the adversary; its Targets are filled in from Lines.
	Flood FloodConfig
	// Chatters are spread over Lines, each sending a message every Period.
	Chatters int
	Period   time.Duration
	// Admissions new clients per line connect, in turn, once the flood's idle
	// connections are all open.
	Admissions int
	// Duration is how long the chat goes on under the flood, from the ramp's end.
	Duration time.Duration
}

// FloodReport is what a FloodScenario measured.
type FloodReport struct {
	// Admitted holds, by route, how long each new client took to connect (dial,
	// transport and session handshakes, retries); AdmitErrs the ones that did not.
	Admitted  map[string][]time.Duration
	AdmitErrs []error
	// Chat holds each chatter's result, by route.
	Chat map[string][]ChatResult
	// Flood is what the flood did; Peak the largest Go heap and stacks in use of
	// this process during it, and Base the same after a GC before it.
	Flood      FloodStats
	Peak, Base Memory
}

// Memory is a process's Go memory in use (runtime.MemStats HeapInuse, StackInuse)
// and its goroutines.
type Memory struct {
	Heap, Stacks uint64
	Goroutines   int
}

// InUse is heap and stacks together.
func (m Memory) InUse() uint64 { return m.Heap + m.Stacks }

// RunFlood runs sc and reports; an error means the scenario could not be set up.
func (l *Lab) RunFlood(ctx context.Context, sc FloodScenario) (*FloodReport, error) {
	rep := &FloodReport{Admitted: map[string][]time.Duration{}, Chat: map[string][]ChatResult{}}
	var chatters []*Chatter
	var routes []string
	var clients []*Client
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	for i := range sc.Chatters {
		ln := sc.Lines[i%len(sc.Lines)]
		c, err := l.Client(client.Config{Bridges: []bridge.Line{ln.Bridge}})
		if err != nil {
			return nil, err
		}
		clients = append(clients, c)
		ch, err := StartChat(ctx, c, sc.Period)
		if err != nil {
			return nil, fmt.Errorf("chatter %d on %s: %w", i, ln.Route.Name, err)
		}
		chatters, routes = append(chatters, ch), append(routes, ln.Route.Name)
	}
	runtime.GC()
	rep.Base = memoryInUse()

	cfg := sc.Flood
	cfg.Targets = nil
	for _, ln := range sc.Lines {
		cfg.Targets = append(cfg.Targets, ln.Listen)
	}
	flood, err := StartFlood(cfg)
	if err != nil {
		return nil, err
	}
	defer flood.Stop()
	stopSampling := sampleMemory()
	if err := flood.WaitIdle(ctx); err != nil {
		stopSampling()
		return nil, err
	}
	end := time.Now().Add(sc.Duration)
	for range sc.Admissions {
		for _, ln := range sc.Lines {
			took, err := l.admit(ctx, ln)
			if err != nil {
				rep.AdmitErrs = append(rep.AdmitErrs, fmt.Errorf("%s: %w", ln.Route.Name, err))
				continue
			}
			rep.Admitted[ln.Route.Name] = append(rep.Admitted[ln.Route.Name], took)
		}
	}
	select {
	case <-time.After(time.Until(end)):
	case <-ctx.Done():
		stopSampling()
		return nil, ctx.Err()
	}
	for i, ch := range chatters {
		// The drain only keeps a broken chat from hanging the run; on a machine starved
		// by the flood and the race detector, echoes still due may take seconds.
		rep.Chat[routes[i]] = append(rep.Chat[routes[i]], ch.Stop(30*time.Second))
	}
	rep.Flood = flood.Stats()
	rep.Peak = stopSampling()
	return rep, nil
}

// admit times a new client of ln from its start to its first session.
func (l *Lab) admit(ctx context.Context, ln Line) (time.Duration, error) {
	c, err := l.Client(client.Config{Bridges: []bridge.Line{ln.Bridge}})
	if err != nil {
		return 0, err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second) // only keeps a lock-out from hanging the run
	defer cancel()
	start := time.Now()
	if err := c.Connect(ctx); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// memoryInUse is the Go heap and stacks this process holds.
func memoryInUse() Memory {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return Memory{Heap: m.HeapInuse, Stacks: m.StackInuse, Goroutines: runtime.NumGoroutine()}
}

// sampleMemory samples memoryInUse every 250 ms until the returned func is called,
// which returns the largest sample.
func sampleMemory() (stop func() Memory) {
	var peak Memory
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			if m := memoryInUse(); m.InUse() > peak.InUse() {
				peak = m
			}
			select {
			case <-tick.C:
			case <-done:
				return
			}
		}
	})
	return func() Memory {
		close(done)
		wg.Wait()
		return peak
	}
}

// FloodFirstBytesTimeout is the gateway's first-bytes timeout under the flood of the
// test and the bench: a flood's idle connections then keep their places for the whole
// run, however fast the machine lets it open them, and only eviction makes room for a
// newcomer: the worst case for admission. (At the 2 s default a flood slowed by a
// busy machine never filled the tcp listener, and the run proved nothing.)
const FloodFirstBytesTimeout = time.Minute

// DefaultFlood is issue 10's flood on lines, sized for a 2-core machine that holds
// both ends of every connection: 5,000 idle connections and 200 junk ones a second
// from 127.0.0.10–29, 100 chatters sending a message every 100 ms, 3 new clients per
// line, 20 s under the flood.
func DefaultFlood(lines []Line) FloodScenario {
	var sources []string
	for i := range 20 {
		sources = append(sources, fmt.Sprintf("127.0.0.%d", 10+i))
	}
	return FloodScenario{
		Lines:      lines,
		Flood:      FloodConfig{Sources: sources, Idle: 5000, JunkRate: 200},
		Chatters:   100,
		Period:     100 * time.Millisecond,
		Admissions: 3,
		Duration:   20 * time.Second,
	}
}

// Scaled is sc with the flood and the chatters divided by n, for a machine that runs
// it n times slower (the race detector's).
func (sc FloodScenario) Scaled(n int) FloodScenario {
	sc.Flood.Idle /= n
	sc.Flood.JunkRate /= n
	sc.Chatters /= n
	return sc
}

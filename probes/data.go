package probes

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/umbrella-edge/edge/client/failure"
	"github.com/umbrella-edge/edge/gateway/limits"
	"github.com/umbrella-edge/edge/session"
)

// echoSize is the size of an echo step's messages: one small record each way, what a
// chat message costs.
const echoSize = 64

// errMismatch is an echo that came back other than it was sent.
var errMismatch = errors.New("the echo differs from what was sent")

// data runs the echo, transfer and throughput steps over one stream to the gateway's
// probe service. A gateway without the service (or whose service is busy) leaves the
// line working and unmeasured.
func (lp *lineProbe) data(ctx context.Context, sess *session.Session, meter *failure.Meter, tls bool) {
	fail := func(err error) *failure.Error {
		if cerr := meter.Err(); cerr != nil {
			// The carrier's own error (a reset, an EOF) says more than the stream's.
			err = fmt.Errorf("%w (carrier: %w)", err, cerr)
		}
		return failure.Classify(failure.Observation{Step: failure.StepData, Err: err, TLS: tls, Received: meter.Received()})
	}
	s := lp.begin(StepEcho)
	sc := newStepContext(ctx, lp.cfg.StepTimeout)
	conn, err := sess.OpenStream(sc, limits.ProbeService)
	sc.stop()
	switch {
	case errors.Is(err, session.ErrUnknownService):
		lp.r.Unmeasured = "the gateway has no probe service, so data was not measured"
	case errors.Is(err, session.ErrStreamLimit):
		lp.r.Unmeasured = "the gateway's probe service was busy, so data was not measured"
	case err != nil:
		lp.end(s, fail(sc.err(err)))
		return
	}
	if lp.r.Unmeasured != "" {
		s.Skipped = lp.r.Unmeasured
		lp.end(s, nil)
		return
	}
	defer conn.Close()
	// The run's end stops a step at once, as its timeout would.
	defer context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })()
	for range Echoes {
		conn.SetDeadline(time.Now().Add(lp.cfg.StepTimeout)) // each round trip
		rtt, err := echoOnce(conn)
		if err != nil {
			lp.end(s, fail(err))
			return
		}
		s.RTTs = append(s.RTTs, rtt)
	}
	if !lp.end(s, nil) {
		return
	}
	s = lp.begin(StepTransfer)
	conn.SetDeadline(time.Now().Add(lp.cfg.StepTimeout))
	s.Sent, s.Received, err = exchange(conn, TransferSize, 0)
	s.CarrierReceived = meter.Received()
	if err == nil && s.Received < TransferSize {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		lp.end(s, fail(err))
		return
	}
	lp.end(s, nil)
	s = lp.begin(StepThroughput)
	conn.SetDeadline(time.Now().Add(lp.cfg.StepTimeout))
	s.Sent, s.Received, err = exchange(conn, ThroughputBytes, ThroughputTime)
	s.CarrierReceived = meter.Received()
	if err != nil && s.Received == 0 {
		lp.end(s, fail(err))
		return
	}
	lp.end(s, nil)
}

// echoOnce sends one message and waits for it to come back.
func echoOnce(conn net.Conn) (time.Duration, error) {
	msg := make([]byte, echoSize)
	rand.Read(msg)
	start := time.Now()
	if _, err := conn.Write(msg); err != nil {
		return 0, err
	}
	got := make([]byte, echoSize)
	if _, err := io.ReadFull(conn, got); err != nil {
		return 0, err
	}
	if !bytes.Equal(got, msg) {
		return 0, errMismatch
	}
	return time.Since(start), nil
}

// exchange sends size random bytes while it reads their echo, until all came back,
// conn's deadline passes, or, when sample is set, sample has passed since the first
// echo came back (a slow path is measured, not failed). It returns the bytes sent
// and echoed back.
func exchange(conn net.Conn, size int, sample time.Duration) (sent, received int64, err error) {
	data := make([]byte, size)
	rand.Read(data)
	wrote := make(chan int64, 1)
	go func() {
		var n int64
		for n < int64(size) {
			k, err := conn.Write(data[n:min(int(n)+32<<10, size)])
			n += int64(k)
			if err != nil {
				break
			}
		}
		wrote <- n
	}()
	var cut atomic.Bool
	var timer *time.Timer
	buf := make([]byte, 32<<10)
	for received < int64(size) && err == nil {
		var k int
		k, err = conn.Read(buf[:min(len(buf), size-int(received))])
		if k > 0 && !bytes.Equal(buf[:k], data[received:received+int64(k)]) {
			err = errMismatch
		}
		if timer == nil && k > 0 && sample > 0 {
			timer = time.AfterFunc(sample, func() { cut.Store(true); conn.SetReadDeadline(time.Unix(1, 0)) })
		}
		received += int64(k)
	}
	if timer != nil {
		timer.Stop()
	}
	if err != nil && cut.Load() {
		err = nil // the sample ran its time
	}
	// Unblock a writer the peer stopped reading from; the stream is done with.
	conn.SetWriteDeadline(time.Unix(1, 0))
	return <-wrote, received, err
}

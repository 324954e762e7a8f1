package client

import (
	"context"
	"errors"
	"net"

	"github.com/umbrella-edge/edge/session"
)

// The session's resumption API (issue 4, part 3) is reached only through this file.
// Until it lands, a carrier's death ends its session, and failover opens a new one.

var errResumeRejected = errors.New("session: resume rejected")

func resumeSession(ctx context.Context, s *session.Session, carrier net.Conn, cfg *session.ClientConfig) error {
	return errResumeRejected
}

// carrierDone is closed when the session's current carrier dies.
func carrierDone(s *session.Session) <-chan struct{} { return s.Done() }

// dropCarrier tells the session that the watchdog declared its carrier dead.
func dropCarrier(s *session.Session) { s.Close() }

func progressOf(s *session.Session) progress { return progress{} }

package session

// TEMPORARY: placeholders so dependants compile while the session layer is written.
// The session helper replaces this file.

import (
	"context"
	"errors"
	"net"
)

type impl struct{}
type streamImpl struct{}

var errTODO = errors.New("session: not yet written")

func (e *HelloError) Error() string { return "session: bad hello (" + e.Reason + ")" }
func (e *HelloError) Unwrap() error { return e.Err }

func Client(ctx context.Context, conn net.Conn, cfg *ClientConfig) (*Session, error) {
	return nil, errTODO
}
func Server(ctx context.Context, conn net.Conn, cfg *ServerConfig) (*Session, error) {
	return nil, errTODO
}
func (s *Session) OpenStream(ctx context.Context, service string) (net.Conn, error) {
	return nil, errTODO
}
func (s *Session) AcceptStream(ctx context.Context) (*Stream, error) { return nil, errTODO }
func (s *Stream) Service() string                                   { return "" }
func (s *Stream) Accept() (net.Conn, error)                         { return nil, errTODO }
func (s *Stream) Refuse(r Refusal) error                            { return errTODO }
func (s *Session) ID() ID                                           { return ID{} }
func (s *Session) NumStreams() int                                  { return 0 }
func (s *Session) Bytes() (in, out uint64)                          { return 0, 0 }
func (s *Session) Done() <-chan struct{}                            { return nil }
func (s *Session) Close() error                                     { return nil }

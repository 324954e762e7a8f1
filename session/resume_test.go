package session

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"testing"
)

// TestResumeDeliversEveryByteOnce cuts the carrier again and again in the middle of
// transfers in each direction, at random points (handshakes included), with FINs
// and resets, from either end, with the default and with a small retransmit buffer
// (so that some cuts come while it is full), and checks every byte by hash.
func TestResumeDeliversEveryByteOnce(t *testing.T) {
	const size = 1 << 20
	const cuts = 8
	transfers := []struct {
		name string
		run  func(s *Session, n int, seed uint64) error
	}{
		{"upload", upload},
		{"download", download},
		{"echo", func(s *Session, n int, _ uint64) error { return echoOnce(s, n) }},
	}
	buffers := []struct {
		name string
		size int
	}{{"default buffer", 0}, {"64 KiB buffer", 64 << 10}}
	for _, c := range carriers {
		for _, tr := range transfers {
			for _, buf := range buffers {
				t.Run(c.name+"/"+tr.name+"/"+buf.name, func(t *testing.T) {
					checkGoroutines(t)
					seed := rand.Uint64()
					t.Logf("seed %d", seed)
					rng := rand.New(rand.NewPCG(seed, 0))
					cc, sc := resumableConfigs()
					cc.ResumeBuffer, sc.ResumeBuffer = buf.size, buf.size
					wrap := func(i int, cconn, sconn net.Conn) (net.Conn, net.Conn) {
						if i > cuts {
							return cconn, sconn
						}
						cut := &cutConn{limit: 1 + rng.Int64N(size/4), reset: rng.IntN(2) == 0}
						if i == 0 {
							cut.limit += 8 << 10 // let the first handshake through
						}
						if rng.IntN(2) == 0 {
							cut.Conn = cconn
							return cut, sconn
						}
						cut.Conn = sconn
						return cconn, cut
					}
					cconn, sconn := c.pair(t)
					cw, sw := wrap(0, cconn, sconn)
					client, server := pairUp(t, cw, sw, cc, sc)
					go serveTest(server)
					r := startResumer(t, c, client, cc, sc, wrap)

					if err := tr.run(client, size, seed); err != nil {
						t.Fatalf("after %d resumes: %v", r.resumes.Load(), err)
					}
					r.halt()
					r.check(t)
					if r.resumes.Load() == 0 {
						t.Error("the transfer finished without a single resume; the test cut nothing")
					}
					for who, s := range map[string]*Session{"client": client, "gateway": server} {
						if err := s.Err(); err != nil {
							t.Errorf("%s session ended: %v", who, err)
						}
					}
					t.Logf("%d resumes", r.resumes.Load())
				})
			}
		}
	}
}

// TestResumeOverAWorkingCarrier moves the session to a new carrier while the old one
// still carries data both ways, as a client does when it only suspects its carrier:
// what the old carrier delivered after the hellos were sent arrives again on the new
// one, and must be delivered once.
func TestResumeOverAWorkingCarrier(t *testing.T) {
	const size = 1 << 20
	for _, c := range carriers {
		t.Run(c.name, func(t *testing.T) {
			checkGoroutines(t)
			cc, sc := resumableConfigs()
			cconn, sconn := c.pair(t)
			client, server := pairUp(t, cconn, sconn, cc, sc)
			go serveTest(server)
			errc := make(chan error, 1)
			go func() { errc <- echoOnce(client, size) }()
			resumes := 0
			for moved := false; !moved; {
				select {
				case err := <-errc:
					if err != nil {
						t.Fatalf("after %d resumes: %v", resumes, err)
					}
					moved = true
					continue
				default:
				}
				in, _ := client.Bytes()
				waitFor(t, "data to flow on the carrier", func() bool {
					now, _ := client.Bytes()
					return now > in || now == size
				})
				c2, s2 := c.pair(t)
				if cerr, serr := resumeOnce(t, client, c2, s2, cc, sc); cerr != nil || serr != nil {
					t.Fatalf("resume %d: client error %v, gateway error %v", resumes+1, cerr, serr)
				}
				resumes++
			}
			if resumes == 0 {
				t.Error("the transfer finished before the first resume")
			}
			t.Logf("%d resumes", resumes)
		})
	}
}

// TestResumeThroughAnotherEndpoint resumes through another listener of the same
// gateway (another transport, address and bridge secret): a stream opened before the
// move carries on after it, and the store records where the session now is.
func TestResumeThroughAnotherEndpoint(t *testing.T) {
	for _, c := range carriers {
		t.Run(c.name, func(t *testing.T) {
			checkGoroutines(t)
			cc, sc := resumableConfigs()
			cconn, sconn := c.pair(t)
			client, server := pairUp(t, cconn, sconn, cc, sc)
			go serveTest(server)
			conn, err := client.OpenStream(context.Background(), "echo")
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if err := echoOn(conn, 1000); err != nil {
				t.Fatalf("before the move: %v", err)
			}

			other := Endpoint{Transport: "webtunnel", Address: "198.51.100.7:443", ServerName: "cdn.example.net"}
			sc2, cc2 := *sc, *cc
			sc2.Endpoint, sc2.Secrets = other, []Secret{testSecret(9)}
			cc2.Endpoint, cc2.Secret = other, testSecret(9)
			client.DropCarrier()
			c2, s2 := c.pair(t)
			if cerr, serr := resumeOnce(t, client, c2, s2, &cc2, &sc2); cerr != nil || serr != nil {
				t.Fatalf("resume at %v: client error %v, gateway error %v", other, cerr, serr)
			}
			if err := echoOn(conn, 70_000); err != nil {
				t.Fatalf("the stream opened before the move: %v", err)
			}
			if err := echoOnce(client, 1000); err != nil {
				t.Fatalf("a stream opened after the move: %v", err)
			}
			st, err := sc.Store.Get(context.Background(), client.ID())
			if err != nil {
				t.Fatal(err)
			}
			if st.Endpoint != other || st.Resumed.IsZero() {
				t.Errorf("stored state after the move: endpoint %v, resumed at %v; want %v and a time", st.Endpoint, st.Resumed, other)
			}
		})
	}
}

// echoOn sends n random bytes on an open echo stream and checks they come back.
func echoOn(conn net.Conn, n int) error {
	want := randomBytes(n)
	errc := make(chan error, 1)
	go func() {
		_, err := conn.Write(want)
		errc <- err
	}()
	got := make([]byte, n)
	if _, err := io.ReadFull(conn, got); err != nil {
		return fmt.Errorf("read %d echoed bytes: %w", n, err)
	}
	if err := <-errc; err != nil {
		return fmt.Errorf("write %d bytes: %w", n, err)
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("echo of %d bytes came back different", n)
	}
	return nil
}

package tlskit

import (
	"bytes"
	"crypto/tls"
	"net"
	"testing"
	"time"
)

// goHello returns the first flight crypto/tls's client sends with cfg.
func goHello(t testing.TB, cfg *tls.Config) []byte {
	t.Helper()
	server, client := net.Pipe()
	defer server.Close()
	go func() {
		tls.Client(client, cfg).Handshake()
		client.Close()
	}()
	server.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	n, err := server.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return buf[:n]
}

func TestJudgeFlightAsOpenSSL(t *testing.T) {
	hello := goHello(t, &tls.Config{ServerName: "www.example.com"})
	tls12 := goHello(t, &tls.Config{ServerName: "www.example.com", MaxVersion: tls.VersionTLS12})
	tls11 := goHello(t, &tls.Config{ServerName: "www.example.com", MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
	empty := []byte{0x16, 3, 1, 0, 0}
	withType := func(typ byte) []byte {
		b := bytes.Clone(hello)
		b[5] = typ
		return b
	}
	tests := []struct {
		name  string
		in    []byte
		want  flightAction
		alert byte
		vers  uint16
	}{
		{"a header cut short waits", []byte{0x16, 3, 1, 2}, needMore, 0, 0},
		{"a hello cut short waits", hello[:len(hello)-1], needMore, 0, 0},
		{"a whole TLS 1.3 hello passes", hello, passHello, 0, 0},
		{"a TLS 1.2 hello passes", tls12, passHello, 0, 0},
		{"a TLS 1.1 hello gets protocol_version in a 3.2 record", tls11, sendAlert, alertProtocolVersion, 0x0302},
		{"a major version other than 3 is hung up on", []byte{0x16, 4, 0, 0, 1, 0}, hangUp, 0, 0},
		{"a record longer than OpenSSL's buffer is refused at once", []byte{0x16, 3, 1, 0x41, 0x41}, sendAlert, alertRecordOverflow, 0x0303},
		{"a record OpenSSL's buffer holds is waited for", []byte{0x16, 3, 1, 0x41, 0x40}, needMore, 0, 0},
		{"a record type other than handshake", []byte{0xc5, 3, 3, 0, 1, 0}, sendAlert, alertUnexpectedMessage, 0x0303},
		{"a handshake message other than ClientHello", withType(2), sendAlert, alertUnexpectedMessage, 0x0303},
		{"a ClientHello too long for OpenSSL", []byte{0x16, 3, 1, 0, 4, 1, 0xff, 0xff, 0xff}, sendAlert, alertIllegalParameter, 0x0303},
		{"empty records are skipped", append(bytes.Repeat(empty, 5), hello...), passHello, 0, 0},
		{"33 empty records are too many", bytes.Repeat(empty, 33), sendAlert, alertUnexpectedMessage, 0x0303},
		{"an SSLv2 record too short", []byte{0x80, 5, 1, 3, 3, 0, 0}, sendAlert, alertDecodeError, 0x0303},
		{"an SSLv2 record cut short waits", []byte{0x80, 0x40, 1, 3, 3, 0, 0}, needMore, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := judgeFlight(tt.in)
			if v.action != tt.want || v.action == sendAlert && (v.alert != tt.alert || v.vers != tt.vers) {
				t.Fatalf("judgeFlight = %+v, want action %d, alert %d in a %04x record", v, tt.want, tt.alert, tt.vers)
			}
			if v.action == needMore && v.limit <= len(tt.in) {
				t.Fatalf("needMore with a read limit of %d after %d bytes", v.limit, len(tt.in))
			}
		})
	}
}

func TestWithoutEmptyRecordsKeepsTheHello(t *testing.T) {
	hello := goHello(t, &tls.Config{ServerName: "www.example.com"})
	in := append(bytes.Repeat([]byte{0x16, 3, 1, 0, 0}, 3), hello...)
	if got := withoutEmptyRecords(in); !bytes.Equal(got, hello) {
		t.Fatalf("got % x…, want the hello alone", got[:min(len(got), 16)])
	}
}

// FuzzJudgeFlight feeds the judge arbitrary first flights, as a prober would: it must
// not panic, must ask for more only below its own read limit, and must judge a flight
// the same once more bytes follow it, unless it was waiting for them.
func FuzzJudgeFlight(f *testing.F) {
	f.Add(goHello(f, &tls.Config{ServerName: "www.example.com"}))
	f.Add([]byte{0x16, 3, 1, 0, 4, 1, 0, 0, 9})
	f.Add([]byte{0x80, 0x2e, 1, 3, 1, 0, 9, 0, 0, 0, 16})
	f.Add([]byte{0x16, 3, 1, 0, 0, 0x16, 3, 1, 0, 2, 1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		v := judgeFlight(b)
		switch v.action {
		case needMore:
			if v.limit <= len(b) {
				t.Fatalf("needMore with a read limit of %d after %d bytes", v.limit, len(b))
			}
		case passHello:
			if v.end > len(b) || v.end < 5 {
				t.Fatalf("passHello ending at %d of %d bytes", v.end, len(b))
			}
		}
		if v.action == needMore {
			return
		}
		if w := judgeFlight(append(bytes.Clone(b), 0x42)); w.action != v.action || w.alert != v.alert {
			t.Fatalf("one more byte turned %+v into %+v", v, w)
		}
	})
}

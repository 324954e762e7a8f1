package decoy

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestReadHeadRefusesWhereNginxDoes(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		status int // 0: a head; -1: waits for more
		http09 bool
	}{
		{"a request", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0, false},
		{"blank lines first", "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 0, false},
		{"blank lines alone wait", "\r\n\r\n\r\n", -1, false},
		{"a bad first byte, at once", "\x07", 400, false},
		{"a method letter alone waits", "G", -1, false},
		{"a lower-case method", "get / HTTP/1.1\r\n", 400, false},
		{"HTTP/0.9", "GET /\r\n", 0, true},
		{"HTTP/0.9 POST", "POST /\r\n", 400, true},
		{"version 2", "GET / HTTP/2", 505, false},
		{"version 0.9 spelt out", "GET / HTTP/0", 400, false},
		{"HTTP/1.1 without Host", "GET / HTTP/1.1\r\n\r\n", 400, false},
		{"HTTP/1.0 without Host", "GET / HTTP/1.0\r\n\r\n", 0, false},
		{"two Hosts, at the second", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n", 400, false},
		{"a bad Host", "GET / HTTP/1.1\r\nHost: a..b\r\n", 400, false},
		{"an ignored header name", "GET / HTTP/1.1\r\nHost: a\r\nX_Y: 1\r\n\r\n", 0, false},
		{"a NUL in a value", "GET / HTTP/1.1\r\nX: a\x00", 400, false},
		{"a path above the root", "GET /a/../../b HTTP/1.1\r\nHost: a\r\n\r\n", 400, false},
		{"an escaped path above the root", "GET /%2e%2e/b HTTP/1.1\r\nHost: a\r\n\r\n", 400, false},
		{"a broken escape", "GET /%4 HTTP/1.1\r\nHost: a\r\n\r\n", 400, false},
		{"TRACE", "TRACE / HTTP/1.1\r\nHost: a\r\n\r\n", 405, false},
		{"a gzip body", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501, false},
		{"a URI of 9000 bytes", "GET /" + strings.Repeat("a", 9000), 414, false},
		{"a header of 9000 bytes", "GET / HTTP/1.1\r\nX: " + strings.Repeat("a", 9000), statusHeaderTooLarge, false},
		{"200 header lines fit", "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X-A: 0123456789012345678901234567890123456789\r\n", 200) + "\r\n", 0, false},
		{"1000 header lines do not", "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X-A: 0123456789012345678901234567890123456789\r\n", 1000), statusHeaderTooLarge, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hd, err := readHead(bufio.NewReader(strings.NewReader(tt.in)))
			var refused *headError
			switch {
			case tt.status == 0 && (err != nil || hd.minor == 9 != tt.http09):
				t.Fatalf("readHead = %+v, %v; want a head (HTTP/0.9: %v)", hd, err, tt.http09)
			case tt.status == -1 && !errors.Is(err, io.EOF):
				t.Fatalf("readHead = %v, want it to wait for more (EOF here)", err)
			case tt.status > 0 && (!errors.As(err, &refused) || refused.status != tt.status || refused.http09 != tt.http09):
				t.Fatalf("readHead = %v (%+v), want a refusal with %d (HTTP/0.9: %v)", err, refused, tt.status, tt.http09)
			}
		})
	}
}

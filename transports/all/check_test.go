package all

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/umbrella-edge/edge/internal/labca"
	"github.com/umbrella-edge/edge/transports"
)

func TestEveryTransportChecksItsListeners(t *testing.T) {
	r := Registry()
	defer r.Close()
	for _, name := range r.Names() {
		tr, _ := r.Get(name)
		if _, ok := tr.(transports.ListenChecker); !ok {
			t.Errorf("%s is not a transports.ListenChecker: gateway --check cannot check its listeners", name)
		}
	}
}

// The gateway's --check must refuse what starting would refuse, naming the same
// argument, accept what starting accepts, and make nothing on the way.
func TestCheckListenAgreesWithListen(t *testing.T) {
	ca, err := labca.New("check test CA")
	if err != nil {
		t.Fatal(err)
	}
	certs := t.TempDir()
	cert, key, err := ca.WriteKeyPair(filepath.Join(certs, "private"), "www.example.com")
	if err != nil {
		t.Fatal(err)
	}
	openCert, openKey, err := ca.WriteKeyPair(filepath.Join(certs, "open"), "www.example.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(openKey, 0o644); err != nil {
		t.Fatal(err)
	}
	const loopback = "127.0.0.1:0"
	tests := []struct {
		name, transport, addr string
		args                  transports.Args
		wantArg               string // the argument the error names; "" for no error, "-" for an error naming none
	}{
		{"tcp", "tcp", loopback, nil, ""},
		{"tcp with an argument", "tcp", loopback, transports.Args{"servername": "a.example"}, "servername"},
		{"utls self-signed", "utls", loopback, transports.Args{"servername": "www.example.com"}, ""},
		{"utls with the operator's certificate", "utls", loopback, transports.Args{"cert": cert, "key": key}, ""},
		{"utls key others can read", "utls", loopback, transports.Args{"cert": openCert, "key": openKey}, "key"},
		{"utls key file missing", "utls", loopback, transports.Args{"cert": cert, "key": key + ".gone"}, "key"},
		{"utls IP as server name", "utls", loopback, transports.Args{"servername": "192.0.2.1"}, "servername"},
		{"utls certificate without key", "utls", loopback, transports.Args{"cert": cert}, "key"},
		{"utls unknown fingerprint", "utls", loopback, transports.Args{"servername": "www.example.com", "fp": "opera"}, "fp"},
		{"utls no server name", "utls", loopback, nil, "servername"},
		{"obfs4", "obfs4", loopback, nil, ""},
		{"obfs4 iat-mode out of range", "obfs4", loopback, transports.Args{"iat-mode": "3"}, "iat-mode"},
		{"webtunnel behind nginx", "webtunnel", loopback, transports.Args{"tls": "false", "url": "https://www.example.org/a1b2c3"}, ""},
		{"webtunnel plain on a public address", "webtunnel", "192.0.2.1:0", transports.Args{"tls": "false", "url": "https://www.example.org/a1b2c3"}, "tls"},
		{"webtunnel plain with a certificate", "webtunnel", loopback, transports.Args{"tls": "false", "servername": "www.example.org", "cert": cert, "key": key}, "cert"},
		{"webtunnel tls not a boolean", "webtunnel", loopback, transports.Args{"tls": "maybe", "servername": "www.example.org"}, "tls"},
		{"websocket origin", "websocket", loopback, transports.Args{"servername": "origin.example.com", "front": "cdn.example.net"}, ""},
		{"websocket front with a port", "websocket", loopback, transports.Args{"servername": "origin.example.com", "front": "cdn.example.net:443"}, "front"},
		{"websocket bad path", "websocket", loopback, transports.Args{"servername": "origin.example.com", "path": "no-slash"}, "path"},
		{"meek behind a CDN", "meek", loopback, transports.Args{"tls": "false", "servername": "cdn.example.net", "url": "https://meek.example.org/m/"}, ""},
		{"meek max-sessions 0", "meek", loopback, transports.Args{"servername": "www.example.com", "max-sessions": "0"}, "max-sessions"},
		{"meek url and path", "meek", loopback, transports.Args{"servername": "www.example.com", "url": "https://meek.example.org/m/", "path": "/m/"}, "path"},
		{"quic", "quic", loopback, transports.Args{"servername": "www.example.com"}, ""},
		{"quic unknown argument", "quic", loopback, transports.Args{"servername": "www.example.com", "alpn": "h3"}, "alpn"},
		{"quicobfs", "quicobfs", loopback, nil, ""},
		{"quicobfs with an argument", "quicobfs", loopback, transports.Args{"cert": "x"}, "cert"},
		{"pt without method", "pt", loopback, nil, "method"},
		{"pt method with no program", "pt", loopback, transports.Args{"method": "nosuchmethod"}, "-"},
	}
	r := Registry()
	defer r.Close()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr, err := r.Get(tt.transport)
			if err != nil {
				t.Fatal(err)
			}
			checkDir := t.TempDir()
			checkErr := tr.(transports.ListenChecker).CheckListen(transports.ListenConfig{Addr: tt.addr, Args: tt.args, StateDir: checkDir})
			if left, _ := os.ReadDir(checkDir); len(left) > 0 {
				t.Errorf("CheckListen made %s in the state directory; it must make nothing", left[0].Name())
			}
			ln, listenErr := tr.Listen(t.Context(), transports.ListenConfig{Addr: tt.addr, Args: tt.args, StateDir: t.TempDir()})
			if ln != nil {
				ln.Close()
			}
			if tt.wantArg == "" {
				if checkErr != nil || listenErr != nil {
					t.Fatalf("CheckListen: %v; Listen: %v; want both to accept", checkErr, listenErr)
				}
				return
			}
			if checkErr == nil || listenErr == nil {
				t.Fatalf("CheckListen: %v; Listen: %v; want both to refuse", checkErr, listenErr)
			}
			if got := argOf(checkErr); tt.wantArg != "-" && got != tt.wantArg {
				t.Errorf("CheckListen: %v\nnames argument %q, want %q", checkErr, got, tt.wantArg)
			}
			if argOf(checkErr) != argOf(listenErr) {
				t.Errorf("CheckListen: %v\nListen: %v\nname different arguments", checkErr, listenErr)
			}
		})
	}
}

func argOf(err error) string {
	var ae *transports.ArgError
	if errors.As(err, &ae) {
		return ae.Key
	}
	return ""
}

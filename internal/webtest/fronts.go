package webtest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/umbrella-edge/edge/internal/nginxtest"
	"github.com/umbrella-edge/edge/transports"
)

// The fronts put nginx on FrontHost in front of a gateway's listener on GatewayHost, as
// a CDN or a web server on another machine would be.
const (
	GatewayHost = "127.0.0.2"
	FrontHost   = "127.0.0.3"
)

// WebSocketCDN runs nginx from docker/nginx/websocket.conf as a CDN edge answering to
// front, in front of a gateway address that terminates TLS as origin does, with the
// WebSocket at path. It returns nginx's address and the one for the gateway to listen
// on.
func WebSocketCDN(t testing.TB, front, origin, path string) (edge, gateway string) {
	t.Helper()
	edge, gateway = nginxtest.FreeAddr(t, FrontHost), nginxtest.FreeAddr(t, GatewayHost)
	cert, key := Certificate(t, front)
	StartNginx(t, "websocket.conf", map[string]string{
		"LISTEN":      edge,
		"SERVER_NAME": front,
		"CERT":        cert,
		"KEY":         key,
		"SITE_ROOT":   Site(t),
		"SECRET_PATH": path,
		"GATEWAY_URL": "https://" + gateway,
		"ORIGIN_NAME": origin,
	}, edge)
	return edge, gateway
}

// WebTunnelFront runs nginx from docker/nginx/webtunnel.conf as serverName's website,
// passing path on to a gateway address in plain HTTP. It returns nginx's address and
// the one for the gateway to listen on.
func WebTunnelFront(t testing.TB, serverName, path string) (front, gateway string) {
	t.Helper()
	front, gateway = nginxtest.FreeAddr(t, FrontHost), nginxtest.FreeAddr(t, GatewayHost)
	cert, key := Certificate(t, serverName)
	StartNginx(t, "webtunnel.conf", map[string]string{
		"LISTEN":      front,
		"SERVER_NAME": serverName,
		"CERT":        cert,
		"KEY":         key,
		"SITE_ROOT":   Site(t),
		"SECRET_PATH": path,
		"GATEWAY":     gateway,
	}, front)
	return front, gateway
}

// The names of MeekCDN. nginx serves two names on one address: MeekFront, the name a
// censor lets through (SNI), and MeekService, the real service (Host). So a client
// reaches MeekService while its TLS says MeekFront: domain fronting.
const (
	MeekFront   = "front.example"
	MeekService = "meek.example"
	MeekPath    = "/meek/"
	MeekURL     = "https://" + MeekService + MeekPath
	// MeekPage is served by nginx at / of both names, and by the decoy through nginx.
	MeekPage = "<html><body>Grandmother's recipes</body></html>\n"
)

// MeekCDN is nginx as a CDN edge in front of a plain meek listener, configured from the
// shipped docker/nginx/meek.conf.
type MeekCDN struct {
	Addr string // nginx's HTTPS address: the bridge address
	Site string // the loopback plain-HTTP copy of the site, for the gateway's decoy
}

// StartMeekCDN runs nginx in front of the meek listener at gateway.
func StartMeekCDN(t testing.TB, gateway string) *MeekCDN {
	t.Helper()
	c := NewMeekCDN(t)
	c.Start(t, gateway)
	return c
}

// NewMeekCDN picks nginx's addresses, so the gateway can be told them before nginx runs.
func NewMeekCDN(t testing.TB) *MeekCDN {
	return &MeekCDN{Addr: nginxtest.FreeAddr(t, FrontHost), Site: nginxtest.FreeAddr(t, FrontHost)}
}

// Start runs nginx in front of the meek listener at gateway.
func (c *MeekCDN) Start(t testing.TB, gateway string) {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "www")
	frontRoot := filepath.Join(dir, "front")
	for _, d := range []string{root, frontRoot} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "index.html"), []byte(MeekPage), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cert, key := Certificate(t, MeekService)
	site, err := nginxtest.Render(Config(t, "meek.conf"), map[string]string{
		"LISTEN":        c.Addr,
		"SERVER_NAME":   MeekService,
		"CERT":          cert,
		"KEY":           key,
		"ROOT":          root,
		"MEEK_PATH":     MeekPath,
		"GATEWAY":       gateway,
		"SITE_LOOPBACK": c.Site,
	})
	if err != nil {
		t.Fatal(err)
	}
	// The CDN's other customer, whose name the client puts in its SNI.
	frontCert, frontKey := Certificate(t, MeekFront)
	other := "server {\n listen " + c.Addr + " ssl default_server;\n server_name " + MeekFront +
		";\n ssl_certificate " + frontCert + ";\n ssl_certificate_key " + frontKey +
		";\n server_tokens off;\n root " + frontRoot + ";\n}\n"
	nginxtest.Start(t, site+other, c.Addr)
}

// MeekClientArgs are the bridge arguments of a client that fronts through MeekCDN.
func MeekClientArgs() transports.Args {
	return transports.Args{"servername": MeekFront, "url": MeekURL}
}

// MeekListenerArgs are the arguments of the meek listener behind MeekCDN.
func MeekListenerArgs() transports.Args {
	return transports.Args{"tls": "false", "servername": MeekFront, "url": MeekURL}
}

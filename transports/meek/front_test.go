package meek_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/umbrella-edge/edge/internal/nginxtest"
	"github.com/umbrella-edge/edge/internal/webtest"
	"github.com/umbrella-edge/edge/transports"
)

// The lab: the gateway's plain meek listener on 127.0.0.2, nginx on 127.0.0.3 as the
// CDN edge. nginx serves two names on one address: front.example, the name a censor
// lets through (SNI), and meek.example, the real service (Host), configured from the
// shipped docker/nginx/meek.conf. So a client reaches meek.example while its TLS says
// front.example: domain fronting.
const (
	frontName   = "front.example"
	serviceName = "meek.example"
	meekPath    = "/meek/"
	serviceURL  = "https://" + serviceName + meekPath
	gatewayHost = "127.0.0.2"
	nginxHost   = "127.0.0.3"
)

// sitePage is served by nginx at / of both names, and by the decoy through nginx.
const sitePage = "<html><body>Grandmother's recipes</body></html>\n"

type front struct {
	addr string // nginx's HTTPS address: the bridge address
	site string // the loopback plain-HTTP copy of the site, for the gateway's decoy
	n    *nginxtest.Nginx
}

// startFront runs nginx in front of the meek listener at gateway.
func startFront(t testing.TB, gateway string) *front {
	t.Helper()
	f := newFront(t)
	f.start(t, gateway)
	return f
}

// newFront picks nginx's addresses, so the gateway can be told them before nginx runs.
func newFront(t testing.TB) *front {
	return &front{addr: nginxtest.FreeAddr(t, nginxHost), site: nginxtest.FreeAddr(t, nginxHost)}
}

func (f *front) start(t testing.TB, gateway string) {
	t.Helper()
	dir := t.TempDir()
	root := filepath.Join(dir, "www")
	frontRoot := filepath.Join(dir, "front")
	for _, d := range []string{root, frontRoot} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "index.html"), []byte(sitePage), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cert, key := webtest.Certificate(t, serviceName)
	site, err := nginxtest.Render(webtest.Config(t, "meek.conf"), map[string]string{
		"LISTEN":        f.addr,
		"SERVER_NAME":   serviceName,
		"CERT":          cert,
		"KEY":           key,
		"ROOT":          root,
		"MEEK_PATH":     meekPath,
		"GATEWAY":       gateway,
		"SITE_LOOPBACK": f.site,
	})
	if err != nil {
		t.Fatal(err)
	}
	// The CDN's other customer, whose name the client puts in its SNI.
	frontCert, frontKey := webtest.Certificate(t, frontName)
	other := "server {\n listen " + f.addr + " ssl default_server;\n server_name " + frontName +
		";\n ssl_certificate " + frontCert + ";\n ssl_certificate_key " + frontKey +
		";\n server_tokens off;\n root " + frontRoot + ";\n}\n"
	f.n = nginxtest.Start(t, site+other, f.addr)
}

// frontedArgs are the bridge arguments of a client that fronts through nginx.
func frontedArgs() transports.Args {
	return transports.Args{"servername": frontName, "url": serviceURL}
}

// plainListenerArgs are the listener arguments of the gateway behind nginx.
func plainListenerArgs() transports.Args {
	return transports.Args{"tls": "false", "servername": frontName, "url": serviceURL}
}

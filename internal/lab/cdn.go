package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/umbrella-edge/edge/internal/nginxtest"
	"github.com/umbrella-edge/edge/transports"
)

// The names the CDN answers to. Fronted bridges send CDNName in their TLS hello; the
// gateway behind the CDN has a TLS name of its own, and meek's service is reached by
// domain fronting: TLS says CDNName, the HTTP Host says MeekHost.
const (
	CDNName    = "cdn.example.net"
	OriginName = "origin.example.com"
	MeekHost   = "meek.example.org"
	// WebsiteName is the name of Website, a site that has nothing to do with the
	// gateway.
	WebsiteName = "shop.example.org"
)

// cdn is nginx on CDNHost standing as a CDN edge in front of the gateway's listeners
// meant for one, configured from the site templates shipped in docker/nginx.
type cdn struct {
	confDir  string
	meekPath string
	origins  map[string]string // transport → the gateway listener behind the CDN
	edges    map[string]string // transport → nginx's address for it
	website  string            // an ordinary HTTPS site, unrelated to the gateway

	dir   string
	nginx *nginxtest.Nginx
}

func newCDN(confDir string) (*cdn, error) {
	if _, err := os.Stat(nginxtest.Binary); err != nil {
		return nil, fmt.Errorf("lab: cdn: %s %w (apt-get install nginx)", nginxtest.Binary, ErrUnavailable)
	}
	if confDir == "" {
		_, file, _, ok := runtime.Caller(0)
		if !ok {
			return nil, errors.New("lab: cdn: cannot locate docker/nginx; set Options.NginxConfigs")
		}
		confDir = filepath.Join(filepath.Dir(file), "..", "..", "docker", "nginx")
	}
	path := make([]byte, 12)
	rand.Read(path)
	return &cdn{
		confDir:  confDir,
		meekPath: "/" + hex.EncodeToString(path) + "/",
		origins:  map[string]string{},
		edges:    map[string]string{},
	}, nil
}

// listenerArgs are the arguments of transport's listener behind the CDN, and whether
// the transport has one. websocket's origin speaks TLS under its own name, as a
// gateway on another host would; meek's speaks plain HTTP on loopback, as the shipped
// meek.conf has it.
func (c *cdn) listenerArgs(transport string) (transports.Args, bool) {
	switch transport {
	case "websocket":
		return transports.Args{"servername": OriginName, "front": CDNName}, true
	case "meek":
		return transports.Args{"tls": "false", "servername": CDNName, "url": "https://" + MeekHost + c.meekPath}, true
	}
	return nil, false
}

// start renders the site configs for the planned edges and runs nginx with them.
func (c *cdn) start(ctx context.Context, l *Lab) error {
	c.dir = filepath.Join(l.dir, "nginx")
	site := filepath.Join(c.dir, "www")
	if err := os.MkdirAll(site, 0o700); err != nil {
		return fmt.Errorf("lab: cdn: %w", err)
	}
	page := "<!doctype html>\n<html><head><title>Example CDN</title></head><body><p>Nothing to see.</p></body></html>\n"
	if err := os.WriteFile(filepath.Join(site, "index.html"), []byte(page), 0o644); err != nil {
		return fmt.Errorf("lab: cdn: %w", err)
	}
	var body strings.Builder
	if edge, ok := c.edges["websocket"]; ok {
		conf, err := c.websocketSite(l, edge, site)
		if err != nil {
			return err
		}
		body.WriteString(conf)
	}
	if edge, ok := c.edges["meek"]; ok {
		conf, err := c.meekSite(l, edge, site)
		if err != nil {
			return err
		}
		body.WriteString(conf)
	}
	website, err := c.websiteSite(l, site)
	if err != nil {
		return err
	}
	body.WriteString(website)
	n, err := nginxtest.Run(ctx, c.dir, body.String(), append(slices.Collect(maps.Values(c.edges)), c.website)...)
	if err != nil {
		return fmt.Errorf("lab: cdn: %w", err)
	}
	c.nginx = n
	return nil
}

// websiteSite is an ordinary website on nginx, with nothing of Umbrella's: what an
// active prober compares a suspected server with.
func (c *cdn) websiteSite(l *Lab, site string) (string, error) {
	addr, err := freeAddr("tcp", CDNHost)
	if err != nil {
		return "", err
	}
	cert, key, err := c.certificate(l, WebsiteName)
	if err != nil {
		return "", err
	}
	c.website = addr
	return fmt.Sprintf(`
server {
    listen %s ssl;
    server_name %s;
    ssl_certificate %s;
    ssl_certificate_key %s;
    ssl_protocols TLSv1.2 TLSv1.3;
    server_tokens off;
    root %s;
    index index.html;
}
`, addr, WebsiteName, cert, key, site), nil
}

func (c *cdn) websocketSite(l *Lab, edge, site string) (string, error) {
	path := ""
	for _, ln := range l.lines {
		if ln.Fronted && ln.Bridge.Transport == "websocket" {
			path = ln.Bridge.Args["path"]
		}
	}
	if path == "" {
		return "", errors.New("lab: cdn: the websocket listener printed no path=")
	}
	cert, key, err := c.certificate(l, CDNName)
	if err != nil {
		return "", err
	}
	return c.render("websocket.conf", map[string]string{
		"LISTEN": edge, "SERVER_NAME": CDNName, "CERT": cert, "KEY": key, "SITE_ROOT": site,
		"SECRET_PATH": path, "GATEWAY_URL": "https://" + c.origins["websocket"], "ORIGIN_NAME": OriginName,
	})
}

// meekSite is the shipped meek site for MeekHost, plus the CDN's default site for
// CDNName on the same address: the name a fronting client sends in its TLS hello.
func (c *cdn) meekSite(l *Lab, edge, site string) (string, error) {
	cert, key, err := c.certificate(l, MeekHost)
	if err != nil {
		return "", err
	}
	loopbackSite, err := freeAddr("tcp", CDNHost)
	if err != nil {
		return "", err
	}
	conf, err := c.render("meek.conf", map[string]string{
		"LISTEN": edge, "SERVER_NAME": MeekHost, "CERT": cert, "KEY": key, "ROOT": site,
		"MEEK_PATH": c.meekPath, "GATEWAY": c.origins["meek"], "SITE_LOOPBACK": loopbackSite,
	})
	if err != nil {
		return "", err
	}
	frontCert, frontKey, err := c.certificate(l, CDNName)
	if err != nil {
		return "", err
	}
	return conf + fmt.Sprintf(`
server {
    listen %s ssl default_server;
    server_name %s;
    ssl_certificate %s;
    ssl_certificate_key %s;
    server_tokens off;
    root %s;
}
`, edge, CDNName, frontCert, frontKey, site), nil
}

func (c *cdn) render(name string, vars map[string]string) (string, error) {
	conf, err := nginxtest.Render(filepath.Join(c.confDir, name), vars)
	if err != nil {
		return "", fmt.Errorf("lab: cdn: %w", err)
	}
	return conf, nil
}

// certificate returns the files of a certificate for name issued by the lab's CA, as
// a CDN's are by a public CA.
func (c *cdn) certificate(l *Lab, name string) (cert, key string, err error) {
	cert, key, err = l.ca.WriteKeyPair(filepath.Join(c.dir, "certs", name), name)
	if err != nil {
		return "", "", fmt.Errorf("lab: cdn: certificate for %s: %w", name, err)
	}
	return cert, key, nil
}

// stop ends nginx, if it runs.
func (c *cdn) stop() {
	if c.nginx != nil {
		c.nginx.Stop()
	}
}

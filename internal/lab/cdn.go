package lab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/umbrella-edge/edge/internal/nginxtest"
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/utls"
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

// nginxStartTimeout bounds waiting for nginx to accept; it only keeps a broken setup
// from hanging a start.
const nginxStartTimeout = 20 * time.Second

// cdn is nginx on CDNHost standing as a CDN edge in front of the gateway's listeners
// meant for one, configured from the site templates shipped in docker/nginx.
type cdn struct {
	confDir  string
	meekPath string
	origins  map[string]string // transport → the gateway listener behind the CDN
	edges    map[string]string // transport → nginx's address for it
	website  string            // an ordinary HTTPS site, unrelated to the gateway

	dir    string
	cmd    *exec.Cmd
	exited chan error
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
		conf, err := c.meekSite(edge, site)
		if err != nil {
			return err
		}
		body.WriteString(conf)
	}
	website, err := c.websiteSite(site)
	if err != nil {
		return err
	}
	body.WriteString(website)
	if err := c.run(body.String()); err != nil {
		return err
	}
	for _, addr := range append(slices.Collect(maps.Values(c.edges)), c.website) {
		if err := c.waitAccept(ctx, addr); err != nil {
			c.stop()
			return err
		}
	}
	return nil
}

// websiteSite is an ordinary website on nginx, with nothing of Umbrella's: what an
// active prober compares a suspected server with.
func (c *cdn) websiteSite(site string) (string, error) {
	addr, err := freeAddr("tcp", CDNHost)
	if err != nil {
		return "", err
	}
	cert, key, err := c.certificate(WebsiteName)
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
	cert, key, err := c.certificate(CDNName)
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
func (c *cdn) meekSite(edge, site string) (string, error) {
	cert, key, err := c.certificate(MeekHost)
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
	frontCert, frontKey, err := c.certificate(CDNName)
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

// certificate returns the files of a self-signed certificate for name, made once.
func (c *cdn) certificate(name string) (cert, key string, err error) {
	dir := filepath.Join(c.dir, "certs", name)
	if _, _, err := utls.ServerTLSConfig(transports.Args{"servername": name}, dir); err != nil {
		return "", "", fmt.Errorf("lab: cdn: certificate for %s: %w", name, err)
	}
	return filepath.Join(dir, "tls-cert.pem"), filepath.Join(dir, "tls-key.pem"), nil
}

// run starts nginx as one process (no master, no workers) with everything it writes
// under its own prefix directory.
func (c *cdn) run(body string) error {
	conf := fmt.Sprintf(`daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events { worker_connections 1024; }
http {
	access_log %[1]s/access.log;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	include /etc/nginx/mime.types;
%[2]s
}
`, c.dir, body)
	path := filepath.Join(c.dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		return fmt.Errorf("lab: cdn: %w", err)
	}
	c.cmd = exec.Command(nginxtest.Binary, "-p", c.dir, "-c", path, "-e", filepath.Join(c.dir, "error.log"))
	if err := c.cmd.Start(); err != nil {
		return fmt.Errorf("lab: cdn: start nginx: %w", err)
	}
	c.exited = make(chan error, 1)
	go func() { c.exited <- c.cmd.Wait() }()
	return nil
}

func (c *cdn) waitAccept(ctx context.Context, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, nginxStartTimeout)
	defer cancel()
	for {
		conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case err := <-c.exited:
			c.exited <- err // for stop
			log := c.errorLog()
			if strings.Contains(log, "Address already in use") {
				err = syscall.EADDRINUSE
			}
			return fmt.Errorf("lab: cdn: nginx exited: %w: %s", err, log)
		case <-ctx.Done():
			return fmt.Errorf("lab: cdn: nginx does not accept on %s: %w: %s", addr, ctx.Err(), c.errorLog())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// errorLog returns the end of nginx's error log, for an error message.
func (c *cdn) errorLog() string {
	b, _ := os.ReadFile(filepath.Join(c.dir, "error.log"))
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-5):], "\n")
}

// stop ends nginx (SIGTERM is its fast shutdown) and waits for it.
func (c *cdn) stop() {
	if c.cmd == nil || c.cmd.Process == nil {
		return
	}
	c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		<-c.exited
	}
}

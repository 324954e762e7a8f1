package main

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/umbrella-edge/edge/config"
	"github.com/umbrella-edge/edge/gateway/acmecert"
	"github.com/umbrella-edge/edge/transports/trust"
)

// acmeCacheDir is where, in the state directory, the ACME account key and the
// certificates are kept.
const acmeCacheDir = "acme"

// newACME returns the certificate manager of the config's acme: section, or nil when
// it names no domains.
func newACME(gc *config.Gateway, log *slog.Logger) (*acmecert.Manager, error) {
	a := gc.ACME
	if len(a.Domains) == 0 {
		return nil, nil
	}
	var roots *x509.CertPool // nil: the system's
	if a.CAFile != "" {
		var err error
		if roots, err = trust.LoadCAFile(a.CAFile); err != nil {
			return nil, gc.Source.Wrap("acme.ca_file", err)
		}
	}
	m, err := acmecert.New(acmecert.Config{
		Domains:     a.Domains,
		Email:       a.Email,
		Directory:   a.Directory,
		Roots:       roots,
		CacheDir:    filepath.Join(gc.StateDir, acmeCacheDir),
		RenewBefore: a.RenewBefore,
		Logger:      log,
	})
	if err != nil {
		return nil, gc.Source.Wrap("acme", err)
	}
	return m, nil
}

// runACME obtains the certificates once the listeners accept, the CA validating
// through them, and serves http-01 on the acme: section's http: address if it names
// one. It returns a function that stops the HTTP server.
func runACME(ctx context.Context, m *acmecert.Manager, httpAddr string) (stop func(), err error) {
	stop = func() {}
	if httpAddr != "" {
		ln, err := net.Listen("tcp", httpAddr)
		if err != nil {
			return nil, fmt.Errorf("acme http: %w", err)
		}
		// Other requests to port 80 are sent to https://, as a web server's are.
		srv := &http.Server{Handler: m.HTTPHandler(nil), ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		stop = func() { srv.Close() }
	}
	go m.Run(ctx)
	return stop, nil
}

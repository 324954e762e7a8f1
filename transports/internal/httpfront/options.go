package httpfront

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/tlskit"
)

// Listener arguments read by ParseOptions, besides tlskit.ServerArgs (servername=,
// cert=, key=).
const (
	// ArgTLS: true (default) terminates TLS in the gateway, which then is the web
	// server; false serves plain HTTP to a reverse proxy (nginx) on this host.
	ArgTLS = "tls"
	// ArgAllowPublicPlain: true lets tls=false listen on a non-loopback address (a
	// reverse proxy on another host of a private network). Off by default, so an
	// operator cannot expose an unencrypted listener by accident.
	ArgAllowPublicPlain = "allow-public-plain"
	// ArgPath is the secret path; absent, one is generated into the state directory.
	ArgPath = "path"

	argServerName = tlskit.ArgServerName
	argCert       = tlskit.ArgCert
	argKey        = tlskit.ArgKey
)

// ServerArgs are all the listener arguments ParseOptions reads.
var ServerArgs = append([]string{ArgTLS, ArgAllowPublicPlain, ArgPath}, tlskit.ServerArgs...)

// Options are a web front's settings, as ParseOptions reads them from listener args.
type Options struct {
	// TLS is the server's TLS setup; nil means plain HTTP behind a reverse proxy.
	TLS *tls.Config
	// ServerName is the name clients reach the site by (the TLS server name).
	ServerName string
	// Pin is the pin= of the site's self-signed certificate, for bridge lines whose
	// clients reach this listener directly; empty behind a reverse proxy or with the
	// operator's certificate.
	Pin string
	// Path is the secret path; every other request gets the decoy site.
	Path string
}

// ParseOptions reads tls=, allow-public-plain=, path=, servername=, cert= and key= for a
// listener on addr, keeping generated state (certificate, secret path) in stateDir.
// Errors name the argument.
func ParseOptions(addr string, args transports.Args, stateDir string) (Options, error) {
	useTLS, err := checkArgs(addr, args)
	if err != nil {
		return Options{}, err
	}
	var o Options
	if useTLS {
		var id tlskit.ServerIdentity
		if o.TLS, id, err = tlskit.ServerConfig(args, stateDir); err != nil {
			return Options{}, err
		}
		o.ServerName, o.Pin = id.ServerName, id.Pin
	} else {
		o.ServerName = args[argServerName] // checked present
	}
	if p, ok := args[ArgPath]; ok {
		o.Path = p // checked
	} else if o.Path, err = StatePath(stateDir); err != nil {
		return Options{}, err
	}
	return o, nil
}

// CheckOptions checks what ParseOptions would refuse, making nothing: the arguments,
// the certificate files (tlskit.CheckServer), and a secret path kept in stateDir.
func CheckOptions(addr string, args transports.Args, stateDir string) error {
	useTLS, err := checkArgs(addr, args)
	if err != nil {
		return err
	}
	if useTLS {
		if err := tlskit.CheckServer(args, stateDir); err != nil {
			return err
		}
	}
	if _, ok := args[ArgPath]; ok || stateDir == "" {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(stateDir, pathFile))
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil // made on first start
	case err != nil:
		return fmt.Errorf("read secret path: %w", err)
	}
	if err := CheckPath(strings.TrimSpace(string(b))); err != nil {
		return fmt.Errorf("secret path in %s (delete the file to generate a new one): %w", filepath.Join(stateDir, pathFile), err)
	}
	return nil
}

// checkArgs refuses what ParseOptions refuses in the arguments alone, and tells
// whether the listener terminates TLS.
func checkArgs(addr string, args transports.Args) (useTLS bool, err error) {
	if useTLS, err = args.Bool(ArgTLS, true); err != nil {
		return false, err
	}
	allowPublic, err := args.Bool(ArgAllowPublicPlain, false)
	if err != nil {
		return false, err
	}
	if p, ok := args[ArgPath]; ok {
		if err := CheckPath(p); err != nil {
			return false, &transports.ArgError{Key: ArgPath, Err: err}
		}
	}
	if useTLS {
		if _, ok := args[ArgAllowPublicPlain]; ok {
			return false, &transports.ArgError{Key: ArgAllowPublicPlain, Err: fmt.Errorf("only applies with %s=false", ArgTLS)}
		}
		return true, nil
	}
	for _, k := range []string{argCert, argKey} {
		if _, ok := args[k]; ok {
			return false, &transports.ArgError{Key: k, Err: fmt.Errorf("with %s=false the reverse proxy holds the certificate; remove it here", ArgTLS)}
		}
	}
	serverName, err := args.Required(argServerName)
	if err != nil {
		return false, err
	}
	if net.ParseIP(serverName) != nil {
		return false, &transports.ArgError{Key: argServerName, Err: fmt.Errorf("want the site's DNS name, got the IP %s", serverName)}
	}
	if !allowPublic && !isLoopback(addr) {
		return false, &transports.ArgError{Key: ArgTLS, Err: fmt.Errorf(
			"false serves unencrypted HTTP, and %s is not a loopback address: listen on 127.0.0.1 behind the web server, or set %s=true if the proxy reaches this host over a private network",
			addr, ArgAllowPublicPlain)}
	}
	return false, nil
}

// isLoopback reports whether addr's host is a loopback IP or "localhost"; an empty
// host (all interfaces) is not.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/umbrella-edge/edge/config"
	"github.com/umbrella-edge/edge/gateway"
	"github.com/umbrella-edge/edge/internal/cli"
	"github.com/umbrella-edge/edge/transports"
	"github.com/umbrella-edge/edge/transports/all"
	"github.com/umbrella-edge/edge/transports/decoy"
	"github.com/umbrella-edge/edge/transports/pt"
)

// checkExitInvalid is gateway --check's exit status for a config it refuses, nginx -t's.
const checkExitInvalid = 1

// checkGateway is 'gateway --check': it reads the config at path as a start would,
// then checks its key files, decoy and every listener's arguments and files with the
// listener's own transport, binding, writing and running nothing. Every problem is
// printed to stderr as file:line: field: what, one a line, as nginx -t prints them.
func checkGateway(path string, stdout, stderr io.Writer) error {
	gc, err := config.LoadGateway(path, all.Names())
	if err != nil {
		return checkFailed(path, err, stderr)
	}
	errs := []error{config.CheckKeys(gc), config.CheckFleet(gc)}
	if gc.Decoy.Dir != "" || gc.Decoy.Proxy != "" {
		if _, err := decoy.NewHandler(gc.Decoy.Dir, gc.Decoy.Proxy); err != nil {
			field := "decoy.dir"
			if gc.Decoy.Proxy != "" {
				field = "decoy.proxy"
			}
			errs = append(errs, gc.Source.Wrap(field, err))
		}
	}
	reg := all.RegistryWith(all.Options{PT: pt.Config{Binaries: gc.PTPrograms}})
	defer reg.Close()
	for i, l := range gc.Listeners {
		errs = append(errs, checkListener(gc, reg, i, l))
	}
	if err := errors.Join(errs...); err != nil {
		return checkFailed(path, err, stderr)
	}
	names := make([]string, len(gc.Listeners))
	for i, l := range gc.Listeners {
		names[i] = l.Transport
	}
	fmt.Fprintf(stdout, "gateway --check: %s: ok: %d listeners (%s), %d services; nothing was started\n",
		path, len(gc.Listeners), strings.Join(names, ", "), len(gc.Services))
	return nil
}

// checkFailed prints err's problems, one a line, and returns the exit.
func checkFailed(path string, err error, stderr io.Writer) error {
	fmt.Fprintln(stderr, err)
	return cli.ExitError{Code: checkExitInvalid, Err: fmt.Errorf("gateway --check: %s: test failed", path)}
}

// checkListener asks listener i's transport what it would refuse in it, naming the
// argument's line when one is at fault.
func checkListener(gc *config.Gateway, reg *transports.Registry, i int, l config.Listener) error {
	field := fmt.Sprintf("listeners[%d]", i)
	t, err := reg.Get(l.Transport)
	if err != nil {
		return gc.Source.Wrap(field+".transport", err)
	}
	checker, ok := t.(transports.ListenChecker)
	if !ok {
		return nil // a transport that cannot be checked is found out by starting it
	}
	dir := gateway.ListenerStateDir(gc.StateDir, gateway.ListenerConfig{Transport: t, Listen: l.Listen})
	err = checker.CheckListen(transports.ListenConfig{Addr: l.Listen, Args: l.Args, StateDir: dir})
	if err == nil {
		return nil
	}
	if ae := (*transports.ArgError)(nil); errors.As(err, &ae) {
		if _, given := l.Args[ae.Key]; given {
			return gc.Source.Wrap(field+".args."+ae.Key, err)
		}
		return gc.Source.Wrap(field+".args", err)
	}
	return gc.Source.Wrap(field, err)
}

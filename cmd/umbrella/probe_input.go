package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"gopkg.in/yaml.v3"

	"github.com/umbrella-edge/edge/config"
	"github.com/umbrella-edge/edge/probes"
)

// loadProbeInput reads the lines to probe from a bridges file or a config: a client's
// (bridges:) or a gateway's (listeners:, whose lines the gateway wrote on its start).
func loadProbeInput(bridgesPath, cfgPath string) (probeInput, error) {
	switch {
	case (bridgesPath == "") == (cfgPath == ""):
		return probeInput{}, errors.New("give --bridges FILE or --config FILE")
	case bridgesPath != "":
		return readBridgesFile(bridgesPath)
	}
	kind, err := configKind(cfgPath)
	if err != nil {
		return probeInput{}, err
	}
	if kind == "gateway" {
		lines, gc, err := gatewayBridges(cfgPath)
		if err != nil {
			return probeInput{}, err
		}
		return probeInput{lines: lines, ptPrograms: gc.PTPrograms}, nil
	}
	cc, err := config.LoadClient(cfgPath)
	if err != nil {
		return probeInput{}, err
	}
	return probeInput{lines: cc.Bridges, caFile: cc.CAFile, ptPrograms: cc.PTPrograms}, nil
}

func readBridgesFile(path string) (probeInput, error) {
	var r io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return probeInput{}, err
		}
		defer f.Close()
		r = f
	}
	lines, err := probes.ReadLines(r)
	if err != nil {
		return probeInput{}, fmt.Errorf("%s: %w", path, err)
	}
	return probeInput{lines: lines}, nil
}

// configKind tells a gateway config (it has listeners:) from a client's (bridges:).
func configKind(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	var top map[string]yaml.Node
	if err := yaml.Unmarshal(data, &top); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	_, listeners := top["listeners"]
	_, bridges := top["bridges"]
	switch {
	case listeners && !bridges:
		return "gateway", nil
	case bridges && !listeners:
		return "client", nil
	}
	return "", fmt.Errorf("%s: neither a client config (bridges:) nor a gateway config (listeners:)", path)
}

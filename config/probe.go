package config

import (
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/umbrella-edge/edge/gateway/limits"
)

// Probe configures the gateway's built-in probe service (limits.ProbeService): an
// echo that umbrella probe measures a bridge with, rate-limited, reaching nothing
// else. The name "probe" is therefore not free for services:.
//
//	probe: {enabled: true, session_rate: 1048576, rate: 8388608}
type Probe struct {
	// Enabled turns the service on or off; nil means on.
	Enabled *bool `yaml:"enabled,omitempty"`
	// SessionRate bounds the bytes a second one session's probe streams echo, after a
	// burst of two seconds' worth.
	SessionRate int `yaml:"session_rate"` // default limits.DefaultProbeSessionRate
	// Rate bounds the bytes a second all probe streams echo together, likewise.
	Rate int `yaml:"rate"` // default limits.DefaultProbeRate
}

// minProbeRate is the least rate a probe bucket may have: a probe's echo round trips
// and its 24 KiB transfer each way should not wait on it.
const minProbeRate = 16 << 10

func (d *decoder) probe(n *yaml.Node, path string) Probe {
	var p Probe
	rateOf := func(v *yaml.Node, f string) int {
		r := d.integer(v, f)
		if r != 0 && r < minProbeRate {
			d.failf(v.Line, f, "want 0 (the default) or at least %d bytes a second, got %d", minProbeRate, r)
		}
		return r
	}
	d.fields(n, path, map[string]func(*yaml.Node, string){
		"enabled": func(v *yaml.Node, f string) {
			if !isNull(v) {
				on := d.boolean(v, f)
				p.Enabled = &on
			}
		},
		"session_rate": func(v *yaml.Node, f string) { p.SessionRate = rateOf(v, f) },
		"rate":         func(v *yaml.Node, f string) { p.Rate = rateOf(v, f) },
	})
	return p
}

// On reports whether the service is on.
func (p Probe) On() bool { return p.Enabled == nil || *p.Enabled }

func (p *Probe) fillDefaults() {
	if p.SessionRate == 0 {
		p.SessionRate = limits.DefaultProbeSessionRate
	}
	if p.Rate == 0 {
		p.Rate = limits.DefaultProbeRate
	}
}

// checkProbeName refuses a service named as the built-in probe service.
func (d *decoder) checkProbeName(services map[string]string, path string) {
	if _, ok := services[limits.ProbeService]; ok {
		f := join(path, limits.ProbeService)
		d.fail(d.src.Lines[f], f, fmt.Errorf("%q is the gateway's built-in echo service for umbrella probe (see probe:); name yours otherwise", limits.ProbeService))
	}
}

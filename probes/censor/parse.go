package censor

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/umbrella-edge/edge/transports"
)

// PolicyNames lists the policies ParsePolicy knows, in the order --help shows them.
func PolicyNames() []string {
	return []string{
		"ip-block", "fet", "sni", "tls-fingerprint", "udp-block", "quic-block", "tspu-quic",
		"whitelist", "freeze", "throttle", "delay", "active-probe", "mitm",
	}
}

// ParsePolicy reads one policy in --policy syntax: NAME[:KEY=VALUE]…, lists as
// comma-separated values, e.g. "fet:p=0.263", "sni:block=a.com,b.com:action=reset",
// "ip-block:addr=127.0.0.2:transport=obfs4". A value may itself hold colons
// ("addr=127.0.0.2:443"): every key has an "=", so a piece without one continues the
// value before it. Errors name the bad parameter.
func ParsePolicy(spec string) (Policy, error) {
	p, err := parsePolicy(spec)
	if err != nil {
		return nil, &PolicyError{Spec: spec, Err: err}
	}
	return p, nil
}

// ParsePolicies parses each spec with ParsePolicy.
func ParsePolicies(specs []string) ([]Policy, error) {
	ps := make([]Policy, 0, len(specs))
	for _, s := range specs {
		p, err := ParsePolicy(s)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return ps, nil
}

func parsePolicy(spec string) (Policy, error) {
	name, args, err := splitSpec(spec)
	if err != nil {
		return nil, err
	}
	scope := Scope{Routes: list(args, "route"), Transports: list(args, "transport")}
	delete(args, "route")
	delete(args, "transport")
	switch name {
	case "ip-block":
		return parseIPBlock(args, scope)
	case "fet":
		return parseFET(args, scope)
	case "sni":
		return parseSNI(args, scope)
	case "tls-fingerprint":
		return parseFingerprint(args, scope)
	case "udp-block":
		return &UDPBlock{Scope: scope}, args.Unknown()
	case "quic-block":
		return &QUICBlock{Scope: scope}, args.Unknown()
	case "tspu-quic":
		return parseTSPUQUIC(args, scope)
	case "whitelist":
		return parseWhitelist(args, scope)
	case "freeze":
		return parseFreeze(args, scope)
	case "throttle":
		return parseThrottle(args, scope)
	case "delay":
		return parseDelay(args, scope)
	case "active-probe":
		return parseActiveProbe(args, scope)
	case "mitm":
		return parseMITM(args, scope)
	}
	return nil, fmt.Errorf("%w %q (known: %s)", ErrUnknownPolicy, name, strings.Join(PolicyNames(), ", "))
}

// splitSpec splits NAME:K=V:K=V into the name and its arguments.
func splitSpec(spec string) (string, transports.Args, error) {
	pieces := strings.Split(spec, ":")
	name := strings.TrimSpace(pieces[0])
	if name == "" {
		return "", nil, errors.New("no policy name")
	}
	args := transports.Args{}
	last := ""
	for _, piece := range pieces[1:] {
		k, v, ok := strings.Cut(piece, "=")
		if !ok {
			if last == "" {
				return "", nil, fmt.Errorf("%q is not KEY=VALUE", piece)
			}
			args[last] += ":" + piece
			continue
		}
		if k == "" {
			return "", nil, fmt.Errorf("%q has no key", piece)
		}
		if _, dup := args[k]; dup {
			return "", nil, &transports.ArgError{Key: k, Err: errors.New("given twice")}
		}
		args[k] = v
		last = k
	}
	return name, args, nil
}

// list returns key's comma-separated values, empty ones left out.
func list(args transports.Args, key string) []string {
	var out []string
	for _, v := range strings.Split(args.Get(key, ""), ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func probability(args transports.Args, key string, def float64) (float64, error) {
	v, ok := args[key]
	if !ok {
		return def, nil
	}
	p, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(p) || p < 0 || p > 1 {
		return 0, &transports.ArgError{Key: key, Err: fmt.Errorf("want a probability in [0, 1], got %q", v)}
	}
	return p, nil
}

func duration(args transports.Args, key string, def time.Duration) (time.Duration, error) {
	v, ok := args[key]
	if !ok {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, &transports.ArgError{Key: key, Err: fmt.Errorf("want a positive duration like 180s, got %q", v)}
	}
	return d, nil
}

// byteRange reads "N" or "MIN-MAX" bytes, with an optional K suffix (1024).
func byteRange(args transports.Args, key string, defMin, defMax int64) (int64, int64, error) {
	v, ok := args[key]
	if !ok {
		return defMin, defMax, nil
	}
	bad := &transports.ArgError{Key: key, Err: fmt.Errorf("want bytes N or MIN-MAX (K = 1024), got %q", v)}
	lo, hi, isRange := strings.Cut(v, "-")
	min, err1 := parseBytes(lo)
	max, err2 := min, error(nil)
	if isRange {
		max, err2 = parseBytes(hi)
	}
	if err1 != nil || err2 != nil || min <= 0 || max < min {
		return 0, 0, bad
	}
	return min, max, nil
}

func parseBytes(s string) (int64, error) {
	mult := int64(1)
	if t, ok := strings.CutSuffix(strings.ToUpper(s), "K"); ok {
		s, mult = t, 1024
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n > math.MaxInt64/mult {
		return 0, errors.New("not a byte count")
	}
	return n * mult, nil
}

// bitRate reads a rate in bit/s with an optional k or M suffix (1000, 1000000).
func bitRate(args transports.Args, key string, def int64) (int64, error) {
	v, ok := args[key]
	if !ok {
		return def, nil
	}
	s, mult := v, float64(1)
	switch {
	case strings.HasSuffix(s, "k"):
		s, mult = s[:len(s)-1], 1e3
	case strings.HasSuffix(s, "M"):
		s, mult = s[:len(s)-1], 1e6
	}
	f, err := strconv.ParseFloat(s, 64)
	r := f * mult
	if err != nil || math.IsNaN(r) || r < 8 || r > 1e12 {
		return 0, &transports.ArgError{Key: key, Err: fmt.Errorf("want a rate in bit/s like 140k or 2M (at least 8), got %q", v)}
	}
	return int64(r), nil
}

// action reads action=reset|drop.
func action(args transports.Args, def Verdict) (Verdict, error) {
	switch v := Verdict(args.Get("action", string(def))); v {
	case Reset, Drop:
		return v, nil
	default:
		return "", &transports.ArgError{Key: "action", Err: fmt.Errorf("want reset or drop, got %q", v)}
	}
}

// spec formats a policy back into --policy syntax.
func spec(name string, s Scope, kv ...string) string {
	var b strings.Builder
	b.WriteString(name)
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			b.WriteString(":" + kv[i] + "=" + kv[i+1])
		}
	}
	b.WriteString(s.spec())
	return b.String()
}

// PolicyHelp documents the policies and their parameters in --policy syntax, with
// their defaults, for the CLI's --help and the admin API.
const PolicyHelp = `Policies (--policy NAME[:KEY=VALUE]..., lists comma-separated; any policy also takes
route=NAMES and transport=LABELS to limit it to some routes):
  ip-block[:addr=IP|IP:PORT,...]   drop flows to these upstreams silently; without addr=,
                                   every upstream in scope (ip-block:transport=obfs4)
  fet[:p=1][:residual=180s]        China's fully-encrypted-traffic rule (Wu et al. 2023): a
                                   first payload that is not exempt is dropped with
                                   probability p (0.263 measured) and its (client IP,
                                   server IP, port) dropped for residual
  sni:block=NAMES|allow=NAMES[:action=reset|drop][:quic=true][:quic-reassemble=false]
                                   TLS SNI block or allow list (a name covers subdomains);
                                   also read from a QUIC v1 Initial's first datagram, or
                                   with quic-reassemble from the CRYPTO frames of a
                                   flow's first 4 datagrams (a ClientHello split over
                                   Initials, as Chrome and quic-go send it)
  tls-fingerprint[:allow=JA4S,JA3S][:action=drop|reset]
                                   only ClientHellos on the allow list pass (default:
                                   the JA4 of Chromium 156 and Firefox 153)
  udp-block                        drop every UDP flow
  quic-block                       drop UDP flows that start with a QUIC long header
  whitelist[:dns=IP:PORT][:allow=NAMES]
                                   shutdown: only DNS to that resolver and TLS to
                                   allowed names pass
  freeze[:bytes=14K-20K]           after N server→client bytes (uniform in the range, per
                                   connection) drop the rest of that direction silently
  throttle[:rate=140k][:burst=N]   police each direction to rate bit/s (k, M suffixes)
  delay[:time=D][:up=D][:down=D][:jitter=J]
                                   hold each direction back D (time= sets both), each
                                   chunk or datagram ±J uniformly, in order: a long or
                                   jittery path, on TCP and UDP routes (route= picks them)
  active-probe[:ref=IP:PORT][:wait=5s][:random=3][:after=1s]
                                   replay each new flow's first payload and random
                                   probes to its server; block the server if it reacts
                                   (data, FIN, RST, timeout) unlike ref (default: a
                                   built-in server that reads and never answers)
  mitm:names=NAMES|*[:verify=false]
                                   terminate TLS for these names with a certificate from
                                   the censor's root CA, re-originate TLS upstream`

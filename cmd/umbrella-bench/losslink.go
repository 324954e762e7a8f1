package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// lossLink is the path from the bench to a network namespace it made, through a
// second one that routes between them and drops packets as a lossy wire does: tc netem
// on the router's two interfaces, or where the kernel lacks sch_netem an iptables
// statistic rule in its FORWARD chain. Either drop is silent to both ends; a rule on
// an end's own OUTPUT chain would not be (sendmsg fails with EPERM, which quic-go
// takes for a broken path). Addresses are in 10.200.0.0/16 and exist only on this
// machine:
//
//	bench hostIf 10.200.x.1/30 ─ 10.200.x.2 router 10.200.x.5 ─ 10.200.x.6/30 nsIf gateway
type lossLink struct {
	ns, router   string // the gateway's namespace and the router's
	hostIf, nsIf string // the ends' interfaces
	rIn, rOut    string // the router's, towards the bench and towards the gateway
	hostIP, nsIP string
	method       string // "tc netem" or "iptables statistic"
}

// errNoLossLink is wrapped when this machine cannot drop packets on a link of its own.
var errNoLossLink = errors.New("no lossy link on this machine")

const lossNSPrefix = "umbrella-bench-loss-"

func newLossLink(ctx context.Context) (_ *lossLink, err error) {
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("%w: needs root for ip netns and tc", errNoLossLink)
	}
	for _, prog := range []string{"ip", "tc"} {
		if _, err := exec.LookPath(prog); err != nil {
			return nil, fmt.Errorf("%w: %s not installed (Debian: iproute2)", errNoLossLink, prog)
		}
	}
	removeStaleNamespaces(ctx)
	pid := strconv.Itoa(os.Getpid())
	x := os.Getpid()%250 + 1
	addr := func(host int) string { return fmt.Sprintf("10.200.%d.%d", x, host) }
	l := &lossLink{ns: lossNSPrefix + pid, router: lossNSPrefix + pid + "-r",
		hostIf: "ubl" + pid + "h", rIn: "ubl" + pid + "i", rOut: "ubl" + pid + "o", nsIf: "ubl" + pid + "g",
		hostIP: addr(1), nsIP: addr(6)}
	defer func() {
		if err != nil {
			l.close()
		}
	}()
	r, g := []string{"-n", l.router}, []string{"-n", l.ns}
	for _, args := range [][]string{
		{"netns", "add", l.ns},
		{"netns", "add", l.router},
		{"link", "add", l.hostIf, "type", "veth", "peer", "name", l.rIn, "netns", l.router},
		{"-n", l.router, "link", "add", l.rOut, "type", "veth", "peer", "name", l.nsIf, "netns", l.ns},
		{"addr", "add", l.hostIP + "/30", "dev", l.hostIf},
		append(r, "addr", "add", addr(2)+"/30", "dev", l.rIn),
		append(r, "addr", "add", addr(5)+"/30", "dev", l.rOut),
		append(g, "addr", "add", l.nsIP+"/30", "dev", l.nsIf),
		// One segment per packet the ends send: a TCP super-packet (TSO/GSO) would
		// otherwise meet the drop as one and lose dozens of segments together, where
		// a wire loses them one by one.
		{"link", "set", "dev", l.hostIf, "gso_max_segs", "1", "up"},
		append(g, "link", "set", "dev", l.nsIf, "gso_max_segs", "1", "up"),
		append(r, "link", "set", "dev", l.rIn, "up"),
		append(r, "link", "set", "dev", l.rOut, "up"),
		append(g, "link", "set", "lo", "up"),
		{"route", "add", addr(4) + "/30", "via", addr(2), "dev", l.hostIf}, // goes with hostIf
		append(g, "route", "add", "default", "via", addr(5)),
		{"netns", "exec", l.router, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"},
	} {
		if err := command(ctx, "ip", args...); err != nil {
			return nil, fmt.Errorf("%w: %w", errNoLossLink, err)
		}
	}
	netemErr := command(ctx, "tc", "-n", l.router, "qdisc", "add", "dev", l.rIn, "root", "netem", "loss", "0%")
	if netemErr == nil {
		l.method = "tc netem"
		return l, command(ctx, "tc", "-n", l.router, "qdisc", "add", "dev", l.rOut, "root", "netem", "loss", "0%")
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		return nil, fmt.Errorf("%w: %v; and iptables is not installed (Debian: iptables)", errNoLossLink, netemErr)
	}
	l.method = "iptables statistic"
	return l, l.setLoss(ctx, 0)
}

// setLoss makes the router drop rate percent of the packets in each direction.
func (l *lossLink) setLoss(ctx context.Context, rate int) error {
	if l.method == "tc netem" {
		loss := strconv.Itoa(rate) + "%"
		for _, dev := range []string{l.rIn, l.rOut} {
			if err := command(ctx, "tc", "-n", l.router, "qdisc", "change", "dev", dev, "root", "netem", "loss", loss); err != nil {
				return err
			}
		}
		return nil
	}
	// The router's own tables, which hold nothing else.
	in := []string{"netns", "exec", l.router, "iptables"}
	if err := command(ctx, "ip", append(in, "-F", "FORWARD")...); err != nil || rate == 0 {
		return err
	}
	p := strconv.FormatFloat(float64(rate)/100, 'f', -1, 64)
	for _, dev := range []string{l.rIn, l.rOut} {
		rule := []string{"-A", "FORWARD", "-i", dev, "-m", "statistic", "--mode", "random", "--probability", p, "-j", "DROP"}
		if err := command(ctx, "ip", append(in, rule...)...); err != nil {
			return err
		}
	}
	return nil
}

// how says, for a row, what the link did.
func (l *lossLink) how(rate int) string {
	const path = "through a router namespace, one segment per packet (no TSO/GSO)"
	if rate == 0 {
		return path + ", no loss"
	}
	return fmt.Sprintf("%s, %s dropping %d %% each way", path, l.method, rate)
}

// close deletes the namespaces, which takes the veth pairs, their qdiscs and rules,
// and the bench's route to the gateway with them. It runs when ctx has ended too
// (Ctrl-C).
func (l *lossLink) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	command(ctx, "ip", "netns", "del", l.router)
	command(ctx, "ip", "netns", "del", l.ns)
	command(ctx, "ip", "link", "del", l.hostIf) // only there if its peer never reached the router
}

// removeStaleNamespaces deletes the namespaces of loss steps whose bench was killed
// before it could.
func removeStaleNamespaces(ctx context.Context) {
	out, _ := exec.CommandContext(ctx, "ip", "netns", "list").Output()
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		rest, ok := strings.CutPrefix(name, lossNSPrefix)
		if !ok {
			continue
		}
		pid, _, _ := strings.Cut(rest, "-")
		if _, err := os.Stat(filepath.Join("/proc", pid)); errors.Is(err, os.ErrNotExist) {
			command(ctx, "ip", "netns", "del", name)
		}
	}
}

func command(ctx context.Context, name string, args ...string) error {
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

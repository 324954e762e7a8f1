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

// lossLink is a veth pair between the bench's network namespace and one it made,
// with addresses in 10.200.0.0/16 that exist only on this machine, and a way to drop
// packets on it: tc netem on both ends, or where the kernel lacks sch_netem an
// iptables statistic rule each way inside the namespace.
type lossLink struct {
	ns, hostIf, nsIf string
	hostIP, nsIP     string
	method           string // "tc netem" or "iptables statistic"
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
	pid := os.Getpid()
	x := pid%250 + 1
	l := &lossLink{ns: lossNSPrefix + strconv.Itoa(pid), hostIf: fmt.Sprintf("ubl%da", pid), nsIf: fmt.Sprintf("ubl%db", pid),
		hostIP: fmt.Sprintf("10.200.%d.1", x), nsIP: fmt.Sprintf("10.200.%d.2", x)}
	defer func() {
		if err != nil {
			l.close()
		}
	}()
	for _, args := range [][]string{
		{"netns", "add", l.ns},
		{"link", "add", l.hostIf, "type", "veth", "peer", "name", l.nsIf, "netns", l.ns},
		{"addr", "add", l.hostIP + "/30", "dev", l.hostIf},
		{"link", "set", l.hostIf, "up"},
		{"-n", l.ns, "addr", "add", l.nsIP + "/30", "dev", l.nsIf},
		{"-n", l.ns, "link", "set", l.nsIf, "up"},
		{"-n", l.ns, "link", "set", "lo", "up"},
		// One segment per packet the kernel sends: a TCP super-packet (TSO/GSO) would
		// otherwise meet the drop as one and lose dozens of segments together, where
		// a wire loses them one by one.
		{"link", "set", "dev", l.hostIf, "gso_max_segs", "1"},
		{"-n", l.ns, "link", "set", "dev", l.nsIf, "gso_max_segs", "1"},
	} {
		if err := command(ctx, "ip", args...); err != nil {
			return nil, fmt.Errorf("%w: %w", errNoLossLink, err)
		}
	}
	netemErr := command(ctx, "tc", "qdisc", "add", "dev", l.hostIf, "root", "netem", "loss", "0%")
	if netemErr == nil {
		l.method = "tc netem"
		return l, command(ctx, "tc", "-n", l.ns, "qdisc", "add", "dev", l.nsIf, "root", "netem", "loss", "0%")
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		return nil, fmt.Errorf("%w: %v; and iptables is not installed (Debian: iptables)", errNoLossLink, netemErr)
	}
	l.method = "iptables statistic"
	return l, l.setLoss(ctx, 0)
}

// setLoss makes the link drop rate percent of the packets in each direction.
func (l *lossLink) setLoss(ctx context.Context, rate int) error {
	if l.method == "tc netem" {
		loss := strconv.Itoa(rate) + "%"
		if err := command(ctx, "tc", "qdisc", "change", "dev", l.hostIf, "root", "netem", "loss", loss); err != nil {
			return err
		}
		return command(ctx, "tc", "-n", l.ns, "qdisc", "change", "dev", l.nsIf, "root", "netem", "loss", loss)
	}
	// The namespace's own tables, which hold nothing else.
	in := []string{"netns", "exec", l.ns, "iptables"}
	if err := command(ctx, "ip", append(in, "-F")...); err != nil || rate == 0 {
		return err
	}
	p := strconv.FormatFloat(float64(rate)/100, 'f', -1, 64)
	for _, dir := range [][]string{{"INPUT", "-i"}, {"OUTPUT", "-o"}} {
		rule := []string{"-A", dir[0], dir[1], l.nsIf, "-m", "statistic", "--mode", "random", "--probability", p, "-j", "DROP"}
		if err := command(ctx, "ip", append(in, rule...)...); err != nil {
			return err
		}
	}
	return nil
}

// how says, for a row, what the link did.
func (l *lossLink) how(rate int) string {
	if rate == 0 {
		return "veth into a network namespace, no loss"
	}
	return fmt.Sprintf("veth into a network namespace, %s dropping %d %% each way", l.method, rate)
}

// close deletes the namespace, which takes the veth pair, its qdiscs and the
// namespace's rules with it. It runs when ctx has ended too (Ctrl-C).
func (l *lossLink) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	command(ctx, "ip", "netns", "del", l.ns)
	command(ctx, "ip", "link", "del", l.hostIf) // only there if the peer never reached the namespace
}

// removeStaleNamespaces deletes the namespaces of loss steps whose bench was killed
// before it could.
func removeStaleNamespaces(ctx context.Context) {
	out, _ := exec.CommandContext(ctx, "ip", "netns", "list").Output()
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		pid, ok := strings.CutPrefix(name, lossNSPrefix)
		if !ok {
			continue
		}
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

package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat. Linux has fixed
// it at 100 on every architecture since 2.6 (see proc(5), sysconf(_SC_CLK_TCK)).
const clockTicks = 100

// cpuTime is the user plus system CPU time the child has used so far.
func (g *childGateway) cpuTime() (time.Duration, error) {
	cpu, err := procCPU(g.cmd.Process.Pid)
	if err != nil {
		return 0, fmt.Errorf("read gateway CPU time: %w", err)
	}
	return cpu, nil
}

// procCPU is the user plus system CPU time process pid has used so far.
func procCPU(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(string(data))
}

// treeCPU is the CPU time used so far by the processes pids and their live
// descendants: a client or gateway runs a pt transport's program as its own child,
// whose time its parent's stat does not count until the program exits.
func treeCPU(pids ...int) (time.Duration, error) {
	parents := make(map[int]int) // pid → ppid of every process
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		if ppid, err := parseStatPPID(string(data)); err == nil {
			parents[pid] = ppid
		}
	}
	in := make(map[int]bool)
	for _, p := range pids {
		if _, ok := parents[p]; !ok {
			return 0, fmt.Errorf("process %d is gone: its CPU time cannot be read", p)
		}
		in[p] = true
	}
	var total time.Duration
	for pid := range parents {
		if !inTree(pid, parents, in) {
			continue
		}
		cpu, err := procCPU(pid)
		if err != nil && slices.Contains(pids, pid) {
			return 0, err
		}
		total += cpu
	}
	return total, nil
}

// inTree reports whether pid or one of its ancestors is in roots.
func inTree(pid int, parents map[int]int, roots map[int]bool) bool {
	for seen := 0; pid > 1 && seen < 64; seen++ {
		if roots[pid] {
			return true
		}
		pid = parents[pid]
	}
	return false
}

// parseStatPPID reads the parent pid (field 4) of a /proc/PID/stat line.
func parseStatPPID(stat string) (int, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("parse /proc stat: no command name in %q", stat)
	}
	fields := strings.Fields(stat[i+1:])
	if len(fields) < 2 {
		return 0, fmt.Errorf("parse /proc stat: %d fields after the command name", len(fields))
	}
	return strconv.Atoi(fields[1])
}

// parseStatCPU reads utime and stime (fields 14 and 15) of a /proc/PID/stat line. The
// command name (field 2) may hold spaces and parentheses, so fields count from its end.
func parseStatCPU(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("parse /proc stat: no command name in %q", stat)
	}
	fields := strings.Fields(stat[i+1:]) // fields[0] is field 3 (state)
	if len(fields) < 13 {
		return 0, fmt.Errorf("parse /proc stat: %d fields after the command name", len(fields))
	}
	var ticks int64
	for _, f := range fields[11:13] {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse /proc stat CPU field %q: %w", f, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// rss is the child's resident set size in bytes (VmRSS of /proc/PID/status).
func (g *childGateway) rss() (int64, error) {
	v := procField(fmt.Sprintf("/proc/%d/status", g.cmd.Process.Pid), "VmRSS")
	var kib int64
	if _, err := fmt.Sscanf(v, "%d kB", &kib); err != nil {
		return 0, fmt.Errorf("read gateway VmRSS %q: %w", v, err)
	}
	return kib << 10, nil
}

// scrape fetches the child's /metrics and returns its unlabelled samples by name.
func (g *childGateway) scrape(ctx context.Context) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+g.admin+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape gateway metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape gateway metrics: %s", resp.Status)
	}
	return parseMetrics(resp.Body)
}

// parseMetrics reads the unlabelled samples of Prometheus's text format, which are all
// the bench needs (the Go runtime's memory and GC series).
func parseMetrics(r io.Reader) (map[string]float64, error) {
	m := make(map[string]float64)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' || strings.ContainsRune(line, '{') {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		v, err := strconv.ParseFloat(fields[1], 64)
		if err != nil {
			continue
		}
		m[fields[0]] = v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read gateway metrics: %w", err)
	}
	return m, nil
}

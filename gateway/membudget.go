package gateway

import (
	"bufio"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
)

// The default memory budget (Config.MemoryBudget) is a quarter of the memory this
// process may use: the smaller of physical RAM (/proc/meminfo MemTotal) and its cgroup's
// limit (v2 memory.max, the lowest on the way to the root; v1 memory.limit_in_bytes),
// at least MinDefaultMemoryBudget and at most MaxDefaultMemoryBudget. A quarter, since
// Go's collector lets the heap grow to twice what is live (GOGC=100) and the gateway
// needs memory of its own beside the buffers; the floor keeps a small machine useful,
// the cap keeps a large one from buffering for a few peers what it could not send in
// minutes. Where the memory cannot be read, the budget is FallbackMemoryBudget.
const (
	MinDefaultMemoryBudget = 64 << 20
	MaxDefaultMemoryBudget = 4 << 30
	FallbackMemoryBudget   = 256 << 20
	memoryBudgetShare      = 4
)

// DefaultMemoryBudget derives the memory budget from this machine, as described above.
func DefaultMemoryBudget() int64 {
	return memoryBudgetFor(usableMemory(os.DirFS("/")))
}

func memoryBudgetFor(usable int64) int64 {
	if usable <= 0 {
		return FallbackMemoryBudget
	}
	return min(max(usable/memoryBudgetShare, MinDefaultMemoryBudget), MaxDefaultMemoryBudget)
}

// usableMemory is the smaller of MemTotal and the cgroup limit found in root (a view
// of /), or 0 when neither can be read.
func usableMemory(root fs.FS) int64 {
	usable := memTotal(root)
	if limit := cgroupLimit(root); limit > 0 && (usable == 0 || limit < usable) {
		usable = limit
	}
	return usable
}

// memTotal reads MemTotal from /proc/meminfo ("MemTotal:  24683772 kB").
func memTotal(root fs.FS) int64 {
	f, err := root.Open("proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 3 && fields[0] == "MemTotal:" && fields[2] == "kB" {
			if kb, err := strconv.ParseInt(fields[1], 10, 64); err == nil && kb > 0 {
				return kb << 10
			}
		}
	}
	return 0
}

// cgroupLimit is the lowest memory limit of this process's cgroup and its ancestors,
// or 0 for none. /proc/self/cgroup names the cgroup ("0::/path" on v2,
// "4:memory:/path" on v1); inside a container it may name a path the container's
// mount does not have, so the mount's root counts too.
func cgroupLimit(root fs.FS) int64 {
	data, err := fs.ReadFile(root, "proc/self/cgroup")
	if err != nil {
		return 0
	}
	var lowest int64
	note := func(file string) {
		if v := readLimit(root, file); v > 0 && (lowest == 0 || v < lowest) {
			lowest = v
		}
	}
	for line := range strings.Lines(string(data)) {
		parts := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(parts) != 3 {
			continue
		}
		var dir, file string
		switch {
		case parts[0] == "0" && parts[1] == "":
			dir, file = "sys/fs/cgroup", "memory.max"
		case strings.Contains(","+parts[1]+",", ",memory,"):
			dir, file = "sys/fs/cgroup/memory", "memory.limit_in_bytes"
		default:
			continue
		}
		for p := path.Clean("/" + parts[2]); ; p = path.Dir(p) {
			note(path.Join(dir, p, file))
			if p == "/" {
				break
			}
		}
	}
	return lowest
}

// readLimit reads a cgroup memory limit file; "max", a v1 "unlimited" near 2^63, and
// anything unreadable are 0.
func readLimit(root fs.FS, file string) int64 {
	data, err := fs.ReadFile(root, file)
	if err != nil {
		return 0
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	if err != nil || v <= 0 || v >= 1<<62 {
		return 0
	}
	return v
}

package gateway

import (
	"testing"
	"testing/fstest"
)

func TestDefaultMemoryBudgetFollowsTheMachine(t *testing.T) {
	const gib = 1 << 30
	meminfo := &fstest.MapFile{Data: []byte("MemTotal:        2097152 kB\nMemFree:          100000 kB\n")} // 2 GiB
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	tests := []struct {
		name  string
		files fstest.MapFS
		want  int64
	}{
		{"a quarter of RAM", fstest.MapFS{"proc/meminfo": meminfo}, gib / 2},
		{"a quarter of a lower cgroup v2 limit", fstest.MapFS{
			"proc/meminfo":     meminfo,
			"proc/self/cgroup": file("0::/system.slice/umbrella.service\n"),
			"sys/fs/cgroup/system.slice/umbrella.service/memory.max": file("1073741824\n"),
		}, gib / 4},
		{"a limit on a parent cgroup counts", fstest.MapFS{
			"proc/meminfo":     meminfo,
			"proc/self/cgroup": file("0::/system.slice/umbrella.service\n"),
			"sys/fs/cgroup/system.slice/umbrella.service/memory.max": file("max\n"),
			"sys/fs/cgroup/system.slice/memory.max":                  file("536870912\n"),
		}, 128 << 20},
		{"no cgroup limit: RAM", fstest.MapFS{
			"proc/meminfo":             meminfo,
			"proc/self/cgroup":         file("0::/\n"),
			"sys/fs/cgroup/memory.max": file("max\n"),
		}, gib / 2},
		{"a cgroup v1 limit at the container's root", fstest.MapFS{
			"proc/meminfo":     meminfo,
			"proc/self/cgroup": file("5:devices:/\n4:memory:/docker/0123abcd\n0::/\n"),
			"sys/fs/cgroup/memory/memory.limit_in_bytes": file("805306368\n"),
		}, 192 << 20},
		{"v1 unlimited: RAM", fstest.MapFS{
			"proc/meminfo":     meminfo,
			"proc/self/cgroup": file("4:memory:/\n"),
			"sys/fs/cgroup/memory/memory.limit_in_bytes": file("9223372036854771712\n"),
		}, gib / 2},
		{"a small machine gets the floor", fstest.MapFS{"proc/meminfo": file("MemTotal: 131072 kB\n")}, MinDefaultMemoryBudget},
		{"a large machine gets the cap", fstest.MapFS{"proc/meminfo": file("MemTotal: 268435456 kB\n")}, MaxDefaultMemoryBudget},
		{"unreadable: the fallback", fstest.MapFS{}, FallbackMemoryBudget},
		{"garbage: the fallback", fstest.MapFS{"proc/meminfo": file("MemTotal: lots\n")}, FallbackMemoryBudget},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := memoryBudgetFor(usableMemory(tt.files)); got != tt.want {
				t.Errorf("budget %d bytes (%d MiB), want %d (%d MiB)", got, got>>20, tt.want, tt.want>>20)
			}
		})
	}
}

//go:build linux

package api

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cpuTimes are the machine's CPU time, from /proc/stat (zero where there is
// none), and this process's, from getrusage: what a deposit costs in CPU,
// on the database server (the rest of the machine) and in Go (the service
// and its client, one process).
type cpuTimes struct {
	total, idle time.Duration // all CPUs; idle includes I/O wait
	self        time.Duration
}

func (c cpuTimes) busy() time.Duration { return c.total - c.idle }

func (c cpuTimes) sub(d cpuTimes) cpuTimes {
	return cpuTimes{total: c.total - d.total, idle: c.idle - d.idle, self: c.self - d.self}
}

// readCPU reads the CPU times now.
func readCPU() cpuTimes {
	var c cpuTimes
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		c.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return c
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(f) < 9 || f[0] != "cpu" {
		return c
	}
	const tick = 10 * time.Millisecond // USER_HZ is 100 on Linux
	for i, v := range f[1:8] {         // not steal: time another machine had
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return cpuTimes{self: c.self}
		}
		c.total += time.Duration(n) * tick
		if i == 3 || i == 4 {
			c.idle += time.Duration(n) * tick
		}
	}
	return c
}

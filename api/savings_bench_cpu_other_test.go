//go:build !linux

package api

import "time"

// cpuTimes: see savings_bench_cpu_linux_test.go; elsewhere there are none
// and the benchmark reports no CPU figures.
type cpuTimes struct{ total, idle, self time.Duration }

func (c cpuTimes) busy() time.Duration     { return c.total - c.idle }
func (c cpuTimes) sub(d cpuTimes) cpuTimes { return cpuTimes{} }
func readCPU() cpuTimes                    { return cpuTimes{} }

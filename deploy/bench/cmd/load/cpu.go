package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// On a machine this small the load generator, the services and PostgreSQL
// compete for the same cores, so requests per second alone cannot say
// where the time goes; the CPU each process used during a phase can.

// clockTick is the unit of the CPU times in /proc (USER_HZ), 100 on every
// Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// watched are the processes whose CPU time a phase reports: "load" (this
// process) and those named on the command line, each with its child
// processes, so that naming the postmaster counts every PostgreSQL
// backend of that cluster and no other.
type watched struct {
	names []string
	pids  map[string][]int
}

// parseWatch reads "name=pid,name=pid"; a name may repeat.
func parseWatch(s string) (watched, error) {
	w := watched{names: []string{"load"}, pids: map[string][]int{"load": {os.Getpid()}}}
	for f := range strings.SplitSeq(s, ",") {
		if f == "" {
			continue
		}
		name, pid, ok := strings.Cut(f, "=")
		n, err := strconv.Atoi(pid)
		if !ok || err != nil {
			return w, fmt.Errorf("-watch: want name=pid, got %q", f)
		}
		if _, seen := w.pids[name]; !seen {
			w.names = append(w.names, name)
		}
		w.pids[name] = append(w.pids[name], n)
	}
	return w, nil
}

// cpuSample is the CPU time used so far by each watched name, and the
// machine's busy and idle time summed over its cores.
type cpuSample struct {
	at         time.Time
	used       map[string]time.Duration
	busy, idle time.Duration
}

func (w watched) sample() cpuSample {
	s := cpuSample{at: time.Now(), used: map[string]time.Duration{}}
	s.busy, s.idle = machineCPU()
	procs := processes()
	for name, pids := range w.pids {
		for _, pid := range pids {
			p := procs[pid]
			if p == nil {
				continue // exited
			}
			s.used[name] += p.cpu
			for _, child := range p.children {
				s.used[name] += procs[child].cpu
			}
		}
	}
	return s
}

// cpuUse is the CPU used over one or more measured phases.
type cpuUse struct {
	wall       time.Duration
	used       map[string]time.Duration
	busy, idle time.Duration
}

// add counts what was used between samples a and b.
func (u *cpuUse) add(a, b cpuSample) {
	if u.used == nil {
		u.used = map[string]time.Duration{}
	}
	u.wall += b.at.Sub(a.at)
	u.busy += b.busy - a.busy
	u.idle += b.idle - a.idle
	for name, d := range b.used {
		u.used[name] += d - a.used[name]
	}
}

// report renders the cores each name kept busy and the CPU time it spent
// per successful request; "other" is what the rest of the machine used
// (anything else running), which makes a disturbed run visible.
func (w watched) report(u cpuUse, requests int) string {
	wall := u.wall.Seconds()
	var sb strings.Builder
	sb.WriteString("cores:")
	other := u.busy
	for _, name := range w.names {
		used := u.used[name]
		other -= used
		if used.Seconds() < wall/100 {
			continue // idle in this phase
		}
		fmt.Fprintf(&sb, " %s %.2f", name, used.Seconds()/wall)
		if requests > 0 {
			fmt.Fprintf(&sb, " (%dµs/req)", used.Microseconds()/int64(requests))
		}
	}
	fmt.Fprintf(&sb, ", other %.2f, idle %.2f", max(other, 0).Seconds()/wall, u.idle.Seconds()/wall)
	return sb.String()
}

// proc is one process's CPU time (user plus system) and its children.
type proc struct {
	cpu      time.Duration
	children []int
}

// processes reads every process's CPU time and parent from /proc.
func processes() map[int]*proc {
	procs := map[int]*proc{}
	get := func(pid int) *proc {
		if procs[pid] == nil {
			procs[pid] = &proc{}
		}
		return procs[pid]
	}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		b, err := os.ReadFile(d + "/stat")
		if err != nil {
			continue // gone meanwhile
		}
		// The command name, in parentheses, may hold spaces: count fields
		// after its closing parenthesis, where the parent is the 2nd and
		// utime and stime are the 12th and 13th.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) < 13 {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(d))
		ppid, _ := strconv.Atoi(f[1])
		utime, _ := strconv.ParseInt(f[11], 10, 64)
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		get(pid).cpu = time.Duration(utime+stime) * clockTick
		get(ppid).children = append(get(ppid).children, pid)
	}
	return procs
}

// machineCPU is the busy and idle (including I/O wait) time summed over
// all cores, from the first line of /proc/stat: user nice system idle
// iowait irq softirq steal …
func machineCPU() (busy, idle time.Duration) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0
	}
	for i, v := range f[1:9] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i == 3 || i == 4 {
			idle += time.Duration(n) * clockTick
		} else {
			busy += time.Duration(n) * clockTick
		}
	}
	return busy, idle
}

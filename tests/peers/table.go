package main

import (
	"fmt"
	"io"
	"slices"
	"time"
)

// row is one system's figures.
type row struct {
	system          string
	expected, fired int // ticks due in the window; distinct ticks fired
	missed, dups    int
	p50, p99, max   time.Duration
	rssMax, rssMin  int64 // peak RSS of the biggest and smallest node
	cost            cost
	inferred        bool // the system does not report ticks: inferred from starts
	windowSeconds   float64
	load            string        // the machine's 1-minute load average at the window's start and end
	early           int           // inferred fires that started before their tick
	earliest        time.Duration // the most any started before its tick
}

// earlyTolerance is how long before a scheduled instant a fire of a system
// that does not report its tick still counts for it (diagridio/go-etcd-cron
// starts some runs a fraction of a millisecond early); its lateness is then
// negative.
const earlyTolerance = 10 * time.Millisecond

// tally counts the fires of the window's ticks [start, start+window).
func tally(c config, name string, start time.Time, fires []fire, rss []int64, cst cost) row {
	every := c.every.Nanoseconds()
	from, to := start.UnixNano(), start.Add(c.window).UnixNano()
	type key struct {
		job  int
		tick int64
	}
	runs := map[key]int{}
	var lateness []time.Duration
	inferred := false
	var r row
	for _, f := range fires {
		tick := f.tick
		if tick == 0 { // the latest scheduled instant at or before the start (or just after it)
			inferred = true
			off := offset(c.spread, c.every, f.job, c.jobs).Nanoseconds()
			s := f.start + earlyTolerance.Nanoseconds()
			tick = s - (s-off)%every
		}
		if tick < from || tick >= to {
			continue
		}
		if f.start < tick {
			r.early++
			r.earliest = max(r.earliest, time.Duration(tick-f.start))
		}
		runs[key{f.job, tick}]++
		lateness = append(lateness, time.Duration(f.start-tick))
	}
	r.system, r.expected, r.fired, r.inferred = name, c.jobs*int(c.window/c.every), len(runs), inferred
	r.cost, r.windowSeconds = cst, c.window.Seconds()
	for _, n := range runs {
		r.dups += n - 1
	}
	r.missed = r.expected - r.fired
	slices.Sort(lateness)
	pct := func(p float64) time.Duration {
		if len(lateness) == 0 {
			return 0
		}
		return lateness[min(len(lateness)-1, int(p*float64(len(lateness))))]
	}
	r.p50, r.p99, r.max = pct(0.50), pct(0.99), pct(1)
	if len(rss) > 0 {
		r.rssMax, r.rssMin = slices.Max(rss), slices.Min(rss)
	}
	return r
}

func (r row) firesPerSec() float64 { return float64(r.fired) / r.windowSeconds }

// perFire divides a window total by the fires of the window.
func (r row) perFire(v float64) float64 { return v / float64(max(r.fired+r.dups, 1)) }

// printTable writes the rows as one Markdown table, with ratios against
// the distcron row when there is one.
func printTable(w io.Writer, c config, rows []row) {
	var base *row
	for i := range rows {
		if rows[i].system == "distcron" {
			base = &rows[i]
		}
	}
	ratio := func(v, b float64) string {
		if base == nil || b == 0 {
			return ""
		}
		return fmt.Sprintf(" (%.2f×)", v/b)
	}
	due := "due together"
	if c.spread {
		due = "spread evenly over the period,"
	}
	fmt.Fprintf(w, "\n%d nodes, %d jobs %s every %v, window %v, etcd fsync %v; ratios against distcron in brackets\n\n",
		c.nodes, c.jobs, due, c.every, c.window, !c.noFsync)
	fmt.Fprintln(w, "| system | fires/s | missed | duplicates | lateness p50 | p99 | max | peak RSS per node | etcd key writes per fire | watch events per fire | node CPU per fire | etcd CPU per fire | load |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, r := range rows {
		var b row
		if base != nil {
			b = *base
		}
		name := r.system
		if r.inferred {
			name += "*"
		}
		us := func(d time.Duration, fires row) float64 { return fires.perFire(float64(d.Microseconds())) }
		costCells := "| n/a | n/a | n/a | n/a"
		if r.cost.ok && r.fired > 0 {
			costCells = fmt.Sprintf("| %.2f%s | %.2f%s | %.0f µs%s | %.0f µs%s",
				r.perFire(r.cost.writes), ratio(r.perFire(r.cost.writes), b.perFire(b.cost.writes)),
				r.perFire(r.cost.events), ratio(r.perFire(r.cost.events), b.perFire(b.cost.events)),
				us(r.cost.nodesCPU, r), ratio(us(r.cost.nodesCPU, r), us(b.cost.nodesCPU, b)),
				us(r.cost.etcdCPU, r), ratio(us(r.cost.etcdCPU, r), us(b.cost.etcdCPU, b)))
		}
		fmt.Fprintf(w, "| %s | %.0f%s | %d (%.1f%%) | %d | %v%s | %v%s | %v | %.0f-%.0f MiB%s %s | %s |\n",
			name, r.firesPerSec(), ratio(r.firesPerSec(), b.firesPerSec()),
			r.missed, 100*float64(r.missed)/float64(max(r.expected, 1)), r.dups,
			round(r.p50), ratio(float64(r.p50), float64(b.p50)), round(r.p99), ratio(float64(r.p99), float64(b.p99)), round(r.max),
			float64(r.rssMin)/(1<<20), float64(r.rssMax)/(1<<20), ratio(float64(r.rssMax), float64(b.rssMax)), costCells, r.load)
	}
	fmt.Fprintln(w, "\n* does not report the tick it runs: the tick is taken as the latest scheduled instant at or before the start")
	fmt.Fprintf(w, "  (or up to %v after it), so a fire more than one period late counts as a missed tick and a duplicate of the next.\n", earlyTolerance)
	for _, r := range rows {
		if r.early > 0 {
			fmt.Fprintf(w, "  %s started %d runs (%.1f%%) before their tick, by up to %v.\n",
				r.system, r.early, 100*float64(r.early)/float64(max(r.fired+r.dups, 1)), r.earliest)
		}
	}
	fmt.Fprintln(w, "Peak RSS is each node's VmHWM (smallest-biggest node; ratio of the biggest). Per-fire costs divide the")
	fmt.Fprintln(w, "window's totals (etcd's /metrics and /proc/<pid>/stat, all nodes together) by the window's fires.")
	fmt.Fprintln(w, "n/a: no sample, or no fires to divide by.")
	fmt.Fprintln(w, "Load is the machine's 1-minute load average at the window's start and end.")
}

// round keeps three significant figures of d, enough for a table.
func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= 10*time.Millisecond:
		return d.Round(100 * time.Microsecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}

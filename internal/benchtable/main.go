// Command benchtable turns `go test -bench` output into the Markdown table
// of BENCHMARKS.md: one row per benchmark named in a rows file, each beside
// the benchmark it is compared against, all from the same run.
//
// Rows file, one row per line ("#" starts a comment):
//
//	label | benchmark | metric | baseline benchmark | baseline metric | what the baseline is
//
// A benchmark is pkg/BenchmarkName[/sub], without the -N CPU suffix; a
// metric is a unit as go test prints it (ns/op, MB/s, B/op, or a custom
// ReportMetric unit). The baseline columns may be "-".
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
)

type result map[string]float64 // unit -> value

func main() {
	rowsPath := flag.String("rows", "", "rows file")
	header := flag.String("header", "", "text to print above the table")
	flag.Parse()
	results, err := parse(os.Stdin)
	if err != nil {
		fail(err)
	}
	rows, err := os.ReadFile(*rowsPath)
	if err != nil {
		fail(err)
	}
	if err := write(os.Stdout, *header, results, string(rows)); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "benchtable:", err)
	os.Exit(1)
}

var cpuSuffix = regexp.MustCompile(`-\d+$`)

// parse reads go test -bench output; "pkg:" lines name the package of the
// benchmark lines after them. A benchmark seen twice keeps its last result.
func parse(r io.Reader) (map[string]result, error) {
	out := map[string]result{}
	pkg := ""
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = p[strings.LastIndex(p, "/")+1:]
			continue
		}
		if !strings.HasPrefix(line, "Benchmark") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		name := pkg + "/" + cpuSuffix.ReplaceAllString(f[0], "")
		res := result{}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				break
			}
			res[f[i+1]] = v
		}
		out[name] = res
	}
	return out, sc.Err()
}

func write(w io.Writer, header string, results map[string]result, rows string) error {
	if header != "" {
		fmt.Fprintln(w, header)
		fmt.Fprintln(w)
	}
	fmt.Fprintln(w, "| measurement | result | compared against | baseline | ratio |")
	fmt.Fprintln(w, "| --- | ---: | --- | ---: | ---: |")
	for n, line := range strings.Split(rows, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		c := strings.Split(line, "|")
		if len(c) != 6 {
			return fmt.Errorf("rows line %d: want 6 columns, have %d", n+1, len(c))
		}
		for i := range c {
			c[i] = strings.TrimSpace(c[i])
		}
		label, bench, metric, base, baseMetric, baseLabel := c[0], c[1], c[2], c[3], c[4], c[5]
		v, ok := results[bench][metric]
		if !ok {
			fmt.Fprintf(w, "| %s | not run (%s %s) | %s | | |\n", label, bench, metric, baseLabel)
			continue
		}
		if base == "-" {
			fmt.Fprintf(w, "| %s | %s %s | %s | | |\n", label, num(v), metric, baseLabel)
			continue
		}
		bv, ok := results[base][baseMetric]
		if !ok {
			fmt.Fprintf(w, "| %s | %s %s | %s | not run | |\n", label, num(v), metric, baseLabel)
			continue
		}
		ratio := "-"
		if bv != 0 {
			ratio = fmt.Sprintf("%.2fx", v/bv)
		}
		fmt.Fprintf(w, "| %s | %s %s | %s | %s %s | %s |\n", label, num(v), metric, baseLabel, num(bv), baseMetric, ratio)
	}
	return nil
}

func num(v float64) string {
	switch {
	case v >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// Command report turns the JSON lines of sse bench runs into
// BENCHMARKS.md: a table per scenario with each figure's ratio to
// ssehub's, the machine, the commands, and an SVG chart of the latency
// percentiles.
//
// Usage:
//
//	report -in results.jsonl -machine machine.txt -commands commands.txt -md BENCHMARKS.md -svg bench/latency.svg
//
// It keeps the part of the Markdown file below a marker line as it was:
// there, report -section shared-log -base NAME writes the section of
// bench/scale.sh (hubs sharing one log), replacing only that section.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/ssehub/ssehub/internal/loadgen"
)

// result is an sse bench JSON line, and what bench/run.sh adds to it.
type result struct {
	loadgen.Result
	Failed string `json:"failed"` // set by run.sh when sse bench failed
}

type (
	latency = loadgen.Latency
	proc    = loadgen.ProcStats
)

func main() {
	in := flag.String("in", "", "JSON lines of sse bench (required)")
	machine := flag.String("machine", "", "file of 'key: value' lines describing the machine")
	commands := flag.String("commands", "", "file of the commands the run executed")
	md := flag.String("md", "BENCHMARKS.md", "Markdown file to write")
	svg := flag.String("svg", "bench/latency.svg", "SVG chart to write")
	section := flag.String("section", "", "write only bench/scale.sh's `section` (shared-log) of -md, no chart")
	base := flag.String("base", "", "with -section: the `name` of the results the ratios are relative to")
	flag.Parse()
	if *in == "" {
		fmt.Fprintln(os.Stderr, "report: -in is required")
		os.Exit(2)
	}
	rs, err := readResults(*in)
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
	mach, _ := os.ReadFile(*machine)
	cmds, _ := os.ReadFile(*commands)
	old, err := os.ReadFile(*md)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
	if *section != "" {
		if *section != sharedSection {
			fmt.Fprintf(os.Stderr, "report: -section %q: the only section is %q\n", *section, sharedSection)
			os.Exit(2)
		}
		doc := replaceSection(string(old), *section, sharedMarkdown(rs, *base, string(mach), string(cmds)))
		if err := os.WriteFile(*md, []byte(doc), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "report:", err)
			os.Exit(1)
		}
		return
	}
	rel, err := filepath.Rel(filepath.Dir(*md), *svg)
	if err != nil {
		rel = *svg
	}
	if err := os.WriteFile(*svg, []byte(chart(rs)), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(*md, []byte(withKeptTail(markdown(rs, string(mach), string(cmds), filepath.ToSlash(rel)), string(old))), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
}

func readResults(path string) ([]result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rs []result
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var r result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		rs = append(rs, r)
	}
	return rs, sc.Err()
}

// scenarios returns the scenario names in order of first appearance and
// each one's results.
func scenarios(rs []result) ([]string, map[string][]result) {
	var order []string
	by := map[string][]result{}
	for _, r := range rs {
		if _, ok := by[r.Scenario]; !ok {
			order = append(order, r.Scenario)
		}
		by[r.Scenario] = append(by[r.Scenario], r)
	}
	return order, by
}

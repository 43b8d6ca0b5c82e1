package main

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// chart draws, for every scenario with latencies, a panel of bars per
// server: p50, p90 and p99 on a logarithmic millisecond axis.
func chart(rs []result) string {
	order, by := scenarios(rs)
	var panels []string
	for _, s := range order {
		for _, r := range by[s] {
			if r.LatencyMs != nil {
				panels = append(panels, s)
				break
			}
		}
	}
	const (
		panelW, panelH = 520, 300
		left, top      = 60, 40
		plotH          = 200
	)
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, r := range rs {
		if l := r.LatencyMs; l != nil {
			lo = math.Min(lo, math.Max(l.P50, 0.01))
			hi = math.Max(hi, l.P99)
		}
	}
	if len(panels) == 0 {
		return `<svg xmlns="http://www.w3.org/2000/svg" width="400" height="40"><text x="10" y="25" font-family="sans-serif" font-size="14">no latency figures</text></svg>` + "\n"
	}
	minExp := math.Floor(math.Log10(lo))
	maxExp := math.Ceil(math.Log10(hi))
	if maxExp <= minExp {
		maxExp = minExp + 1
	}
	const cols = 2
	rows := (len(panels) + cols - 1) / cols
	var rowTop float64 // the current panel's offset
	y := func(v float64) float64 {
		v = math.Max(v, math.Pow(10, minExp))
		return rowTop + top + plotH - (math.Log10(v)-minExp)/(maxExp-minExp)*plotH
	}
	colors := []string{"#4e79a7", "#f28e2b", "#e15759"}
	names := []string{"p50", "p90", "p99"}
	width := panelW * min(cols, len(panels))
	height := 20 + panelH*rows
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="11">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	for i, name := range names {
		fmt.Fprintf(&b, `<rect x="%d" y="8" width="12" height="12" fill="%s"/><text x="%d" y="18">%s</text>`+"\n", 10+i*70, colors[i], 26+i*70, name)
	}
	fmt.Fprintf(&b, `<text x="230" y="18">publish-to-receipt latency, ms (log scale)</text>`+"\n")
	for p, s := range panels {
		x0 := float64(p%cols*panelW + left)
		rowTop = float64(20 + p/cols*panelH)
		plotW := float64(panelW - left - 20)
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" font-size="13" font-weight="bold">%s</text>`+"\n", x0, rowTop+top-6, html.EscapeString(s))
		for e := minExp; e <= maxExp; e++ {
			yy := y(math.Pow(10, e))
			fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#ddd"/>`, x0, x0+plotW, yy, yy)
			fmt.Fprintf(&b, `<text x="%.0f" y="%.1f" text-anchor="end">%s</text>`+"\n", x0-4, yy+4, tick(e))
		}
		group := by[s]
		slot := plotW / float64(len(group))
		bw := min(slot/4, 24.0)
		for i, r := range group {
			sx := x0 + float64(i)*slot
			if l := r.LatencyMs; l != nil {
				for k, v := range []float64{l.P50, l.P90, l.P99} {
					yy := y(v)
					fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s %s: %.2f ms</title></rect>`+"\n",
						sx+slot/2-1.5*bw+float64(k)*bw, yy, bw, rowTop+top+plotH-yy, colors[k], html.EscapeString(s), html.EscapeString(r.Name), names[k], v)
				}
			}
			ly := rowTop + top + plotH + 16
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end" transform="rotate(-30 %.1f %.1f)">%s</text>`+"\n",
				sx+slot/2+8, ly, sx+slot/2+8, ly, html.EscapeString(r.Name))
		}
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func tick(e float64) string {
	v := math.Pow(10, e)
	if v >= 1 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%g", v)
}

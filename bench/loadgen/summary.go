package main

import (
	"bufio"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// cmdSummary prints the measurements of a results.jsonl (written by
// scripts/bench-scale.sh) next to the targets.
func cmdSummary(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("summary needs the results.jsonl file")
	}
	return summarize(os.Stdout, args[0])
}

// summarize writes the summary of the results file at path to out.
func summarize(out io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var lines []string
	add := func(format string, a ...any) { lines = append(lines, fmt.Sprintf(format, a...)) }
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		num := func(path ...string) float64 {
			var v any = m
			for _, p := range path {
				mm, _ := v.(map[string]any)
				v = mm[p]
			}
			n, _ := v.(float64)
			return n
		}
		switch m["measure"] {
		case "load_average":
			add("load average %-14v %v", m["when"], m["uptime"])
		case "synth", "synth_delta", "full_import":
			add("%-34s %8.2f s%s", m["measure"], num("seconds"), map[any]string{"full_import": "   (target ≤ 30 s)"}[m["measure"]])
		case "store_size":
			add("%-34s %8.0f MB", "knowledge store on disk", num("mb"))
		case "cold_start":
			what := "cold start to SERVING"
			if m["decision_log"] == false {
				what += " (log off)"
			}
			add("%-34s %8.0f ms   (target ≤ 3000 ms)", what, num("ready_ms"))
		case "idle_rss":
			add("%-34s %8.1f MB", "RSS after start, idle", num("mb"))
		case "grpc":
			c := num("callers")
			off := ""
			if m["decision_log"] == false {
				off = ", decision log off"
			}
			add("gRPC, %v callers, %v-line order (request %v B, response %v B)%s:", c, m["lines"], m["request_bytes"], m["response_bytes"], off)
			for _, r := range []string{"empty", "echo", "check"} {
				add("  %-6s p50 %8.1f µs  p99 %8.1f µs  %9.0f calls/s", r, num(r, "p50_us"), num(r, "p99_us"), num(r, "calls_per_s"))
			}
			add("  check/echo  p50 %.2f× (≤ 1.15×)  p99 %.2f× (≤ 1.3×)  throughput %.0f %% (≥ 85 %% at 50 callers)",
				num("check_over_echo", "p50"), num("check_over_echo", "p99"), 100*num("check_over_echo", "throughput"))
			add("  check/empty p50 %.2f×  p99 %.2f×  throughput %.0f %%",
				num("check_over_empty", "p50"), num("check_over_empty", "p99"), 100*num("check_over_empty", "throughput"))
			if echo, check := num("echo", "server_cpu_us"), num("check", "server_cpu_us"); echo > 0 && check > 0 {
				// On the sidecar's one core, saturated, throughput is the
				// inverse of CPU per call: check/echo ≥ 85 % leaves a check
				// (1/0.85 − 1) of an echo's CPU for its own work.
				add("  server CPU per call: empty %.0f µs, echo %.0f µs, check %.0f µs; the check's own work %.0f µs (85 %% of the echo's throughput on one saturated core leaves it %.0f µs)",
					num("empty", "server_cpu_us"), echo, check, check-echo, echo*(1/0.85-1))
			}
		case "steady_rss":
			add("%-34s %8.1f MB   (target ≤ 256 MB) after %v checks at %.0f/s; anonymous %.1f MB, file pages %.1f MB",
				"steady RSS", num("rss_after_mb"), m["checks"], num("checks_per_s"), num("rss_anon_mb"), num("rss_file_mb"))
			if files, ok := m["rss_files_mb"].(map[string]any); ok && len(files) > 0 {
				kinds := make([]string, 0, len(files))
				for k := range files {
					kinds = append(kinds, k)
				}
				mb := func(k string) float64 { v, _ := files[k].(float64); return v }
				slices.SortFunc(kinds, func(a, b string) int { return cmp.Compare(mb(b), mb(a)) })
				parts := []string{}
				for _, k := range kinds[:min(len(kinds), 5)] {
					parts = append(parts, fmt.Sprintf("%s %.1f MB", k, mb(k)))
				}
				add("  file pages by file: %s", strings.Join(parts, ", "))
			}
		case "delta":
			add("%-34s %8.0f ms   (the bureau's own apply, the sidecar's poll and its apply; the apply's target ≤ 1000 ms: \"installed in\" below)", "10k delta: publish → switched", num("publish_to_switch_ms"))
			add("  check p99 idle %.0f µs, during %.0f µs: %.2f× (≤ 2×); p50 idle %.0f µs, during %.0f µs",
				num("idle", "p99_us"), num("during", "p99_us"), num("p99_during_over_idle"), num("idle", "p50_us"), num("during", "p50_us"))
			if _, ok := m["apply"]; ok {
				add("  within the sidecar's apply (%.0f ms, its log's fetch → installed): check p99 %.0f µs: %.2f× idle (≤ 2×); p50 %.0f µs; %v checks",
					num("apply_ms"), num("apply", "p99_us"), num("p99_apply_over_idle"), num("apply", "p50_us"), m["apply"].(map[string]any)["calls"])
			}
			add("  RSS steady %.1f MB, max while switching %.1f MB: %.2f× (≤ 1.2×)", num("rss_steady_mb"), num("rss_switch_max_mb"), num("rss_switch_over_steady"))
		case "delta_install_logged":
			add("%-34s %8v     (target ≤ 1000 ms; sidecar log: fetch, prove, store, compile, swap)", "10k delta installed in", m["took"])
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, strings.Join(lines, "\n"))
	return err
}

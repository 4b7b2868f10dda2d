package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/rxguard/rxguard/internal/diskspace"
	"github.com/rxguard/rxguard/internal/resident"
	"github.com/rxguard/rxguard/server"
	"github.com/rxguard/rxguard/server/decisionlog"
)

// cmdStatus prints a running sidecar's /status for hospital IT: the active
// release, bureau sync freshness, the physician feed and plugins.
func cmdStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("http", server.DefaultHTTPAddr, "the sidecar's HTTP address")
	asJSON := fs.Bool("json", false, "print the raw JSON")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	client, scheme, token, err := clientHTTP(*addr)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+*addr+"/status", nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("no sidecar answering on %s (is `rxguard serve` running? -http sets the address): %w", *addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return fmt.Errorf("%s/status answered %s: %s (set %s to a token with the role security.status_role names)", *addr, resp.Status, strings.TrimSpace(string(body)), envToken)
	}
	if *asJSON {
		_, err = stdout.Write(body)
		return err
	}
	var st struct {
		Ready     bool `json:"ready"`
		Knowledge *struct {
			Version   string    `json:"version"`
			Parent    string    `json:"parent"`
			Created   time.Time `json:"created"`
			Publisher string    `json:"publisher"`
			Records   int       `json:"records"`
			SHA256    string    `json:"content_sha256"`
			Signed    bool      `json:"signed"`
		} `json:"knowledge"`
		PhysicianEvents int             `json:"physician_events"`
		Sync            json.RawMessage `json:"sync"`
		Plugins         []struct {
			Name  string `json:"name"`
			State string `json:"state"`
		} `json:"plugins"`
		Storage     []diskspace.Status  `json:"storage"`
		Memory      *resident.Status    `json:"memory"`
		DecisionLog *decisionlog.Status `json:"decision_log"`
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return fmt.Errorf("sidecar on %s answered /status with something unreadable: %w", *addr, err)
	}
	w := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "ready\t%v\n", st.Ready)
	if k := st.Knowledge; k != nil {
		signed := "unsigned (built locally)"
		if k.Signed {
			signed = "signed"
		}
		fmt.Fprintf(w, "knowledge release\t%s (%d records, %s)\n", k.Version, k.Records, signed)
		fmt.Fprintf(w, "  created\t%s by %s\n", k.Created.Local().Format(time.DateTime), k.Publisher)
		fmt.Fprintf(w, "  sha256\t%s\n", k.SHA256)
	}
	fmt.Fprintf(w, "physician status events\t%d\n", st.PhysicianEvents)
	var sy map[string]any
	_ = json.Unmarshal(st.Sync, &sy)
	if c, ok := sy["configured"]; ok && c == false {
		fmt.Fprintf(w, "bureau sync\tnot configured (serving the local release only)\n")
	} else {
		state := "fresh"
		if sy["stale"] == true {
			state = "STALE"
		}
		fmt.Fprintf(w, "bureau sync\t%s — %v\n", state, sy["bureau"])
		for _, k := range []string{"last_success", "last_attempt", "lag_seconds", "bureau_latest", "versions_behind",
			"consecutive_failures", "last_error", "last_error_at", "feed_cursor", "bureau_last_seq", "releases_applied_total", "next_poll"} {
			if v, ok := sy[k]; ok && v != "" {
				if f, isNum := v.(float64); isNum && k == "lag_seconds" {
					v = (time.Duration(f) * time.Second).String()
				}
				fmt.Fprintf(w, "  %s\t%v\n", strings.ReplaceAll(k, "_", " "), v)
			}
		}
	}
	for _, p := range st.Plugins {
		fmt.Fprintf(w, "plugin %s\t%s\n", p.Name, p.State)
	}
	for _, d := range st.Storage {
		state := "writable"
		if !d.Writable {
			state = "REFUSING WRITES (" + d.Mode + ")"
		}
		fmt.Fprintf(w, "%s store\t%s — %s free, keeps %s free\n", d.Store, state, diskspace.Bytes(d.FreeBytes), diskspace.Bytes(d.MinFreeBytes))
		if d.Detail != "" {
			fmt.Fprintf(w, "  why\t%s\n", d.Detail)
		}
		if d.RefusedWrites > 0 {
			fmt.Fprintf(w, "  refused writes\t%d\n", d.RefusedWrites)
		}
	}
	if m := st.Memory; m != nil {
		fmt.Fprintf(w, "memory\t%s heap, %s file pages (the binary and the knowledge tables)\n",
			diskspace.Bytes(m.RSSAnonBytes), diskspace.Bytes(m.RSSFileBytes))
		switch {
		case !m.Supported:
			fmt.Fprintf(w, "  logs' pages\tnot released on this platform: file pages include the decisions written\n")
		case m.LastError != "":
			fmt.Fprintf(w, "  logs' pages\tRELEASE FAILING: %s\n", m.LastError)
		}
	}
	if d := st.DecisionLog; d != nil {
		state := "recording"
		if d.State != decisionlog.StateOK {
			state = "DEGRADED (decisions are not being recorded; checks are answered)"
		}
		fmt.Fprintf(w, "decision log\t%s — %s, %d written, %d queued\n", state, d.Detail.Durability, d.Detail.Written, d.Detail.QueueDepth)
		if d.Message != "" {
			fmt.Fprintf(w, "  why\t%s\n", d.Message)
		}
		for _, c := range []struct {
			name string
			n    uint64
		}{{"failed", d.Detail.Failed}, {"waited (queue full)", d.Detail.Waited}, {"dropped", d.Detail.Dropped}} {
			if c.n > 0 {
				fmt.Fprintf(w, "  %s\t%d\n", c.name, c.n)
			}
		}
	} else {
		fmt.Fprintf(w, "decision log\tnot configured\n")
	}
	return w.Flush()
}

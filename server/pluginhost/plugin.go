package pluginhost

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	pluginv1 "github.com/rxguard/rxguard/gen/rxguard/plugin/v1"
	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/plugins/sdk"
)

// Supervision timing. Variables, not constants, only so tests could tune
// them; nothing changes them at run time.
var (
	// backoffBase is the wait before the first restart after a crash; it
	// doubles with each consecutive failure up to backoffCap.
	backoffBase = 50 * time.Millisecond
	backoffCap  = time.Second
	// healthyAfter: a process that answered an Evaluate, or stayed up this
	// long, was healthy, and its death restarts the backoff from
	// backoffBase. A process that fails to start or dies young without
	// answering anything is a crash loop and backs off further.
	healthyAfter = 5 * time.Second
	// watchInterval is how often the supervisor polls go-plugin for the
	// process's exit (go-plugin offers no channel for it). The hot path
	// also wakes the supervisor at once when a call fails with Unavailable.
	watchInterval = 25 * time.Millisecond
	// startTimeout bounds one start: exec, go-plugin handshake.
	startTimeout = 5 * time.Second
	// describeTimeout bounds the Describe call after each start, and
	// probeTimeout the health check run when calls fail with Unavailable
	// while the process is still there.
	describeTimeout = 2 * time.Second
	probeTimeout    = 500 * time.Millisecond
)

// plug is one configured plugin: its supervisor's state, the running
// process (if any) and the counters behind PluginStatus.
type plug struct {
	cfg    Config
	pin    []byte
	source string // "plugin:<name>"
	log    *slog.Logger
	hlog   hclog.Logger
	fail   failTexts
	// sockRoot is the Manager's socket directory ("" when it has none);
	// each process gets its own directory below it (see sockdir.go).
	sockRoot string

	// cur is the process that takes calls; nil while none does. Only the
	// supervisor stores it; the hot path only loads it.
	cur atomic.Pointer[instance]
	// kick wakes the supervisor (capacity 1, sends never block).
	kick chan struct{}
	// down is the evidence of the failure finding while cur is nil.
	down atomic.Pointer[string]

	calls, errs, timeouts, unavailable, canceled atomic.Uint64
	badFixes                                     atomic.Uint64
	lat                                          latency
	lastErr                                      atomic.Pointer[errRecord]

	mu            sync.Mutex // guards the fields below; never held across a call
	state         State
	since         time.Time
	reason        string
	restarts      uint64
	startFailures uint64
	everUp        bool
	desc          Description
}

type errRecord struct {
	msg string
	at  time.Time
}

// instance is one plugin process and its go-plugin client.
type instance struct {
	client  *plugin.Client
	cmd     *exec.Cmd
	conn    *plugin.GRPCClient
	svc     pluginv1.PolicyPluginServiceClient
	pid     int
	started time.Time
	served  atomic.Bool // answered an Evaluate
	sockDir string      // removed once the process has exited
}

func newPlug(cfg Config, pin []byte, log *slog.Logger) *plug {
	l := log.With("plugin", cfg.Name)
	p := &plug{
		cfg:    cfg,
		pin:    pin,
		source: "plugin:" + cfg.Name,
		log:    l,
		hlog:   newHclog(l, hclog.Info),
		fail:   newFailTexts(cfg.Name, cfg.OnFailure, cfg.Timeout),
		kick:   make(chan struct{}, 1),
		state:  StateStarting,
		since:  time.Now(),
	}
	ev := downEvidence(cfg.Name, StateStarting)
	p.down.Store(&ev)
	return p
}

// run is one plugin's part of Manager.Evaluate. It never panics and never
// waits longer than the plugin's deadline (or the caller's, if sooner).
func (p *plug) run(ctx context.Context, req *pluginv1.EvaluateRequest) (out []*rxguardv1.Finding) {
	p.calls.Add(1)
	in := p.cur.Load()
	if in == nil {
		p.unavailable.Add(1)
		return p.failure(*p.down.Load())
	}
	defer func() {
		if r := recover(); r != nil {
			p.errs.Add(1)
			p.noteError(fmt.Sprintf("panic in host while calling plugin: %v", r))
			out = p.failure(p.fail.err)
		}
	}()
	cctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	t0 := time.Now()
	resp, err := in.svc.Evaluate(cctx, req)
	p.lat.observe(time.Since(t0))
	cancel()
	if err != nil {
		// Whose deadline was it? gRPC's own timer can report
		// DeadlineExceeded a moment before the caller's context says Done,
		// so compare the deadlines rather than ask ctx.Err().
		callerFirst := false
		if dl, ok := ctx.Deadline(); ok && !dl.After(t0.Add(p.cfg.Timeout)) {
			callerFirst = true
		}
		return p.callFailed(ctx, err, callerFirst)
	}
	if !in.served.Load() {
		in.served.Store(true)
	}
	fs := resp.GetFindings()
	for _, f := range fs {
		switch f.Action {
		case rxguardv1.Action_ACTION_INFO, rxguardv1.Action_ACTION_WARN, rxguardv1.Action_ACTION_BLOCK:
		default:
			// Unspecified or unknown: show it, but never block on it.
			f.Action = rxguardv1.Action_ACTION_WARN
		}
		f.FindingId = ""
		f.Source = p.source
		f.Overridable = f.Action != rxguardv1.Action_ACTION_BLOCK
		if n, why := keepValidFixes(req.GetRequest(), f); n > 0 {
			// The finding stays (its text is still right); only the
			// buttons that could not be applied go. Counted in status.
			p.badFixes.Add(uint64(n))
			p.noteError("dropped " + strconv.Itoa(n) + " structured suggestion(s) of finding " + f.RuleId + ": " + why)
		}
	}
	return fs
}

func (p *plug) callFailed(ctx context.Context, err error, callerDeadlineFirst bool) []*rxguardv1.Finding {
	code := status.Code(err)
	switch {
	case ctx.Err() != nil, code == codes.DeadlineExceeded && callerDeadlineFirst:
		p.canceled.Add(1)
		return p.failure(p.fail.canceled)
	case code == codes.DeadlineExceeded:
		p.timeouts.Add(1)
		p.noteError(fmt.Sprintf("no answer within %v", p.cfg.Timeout))
		return p.failure(p.fail.timeout)
	}
	p.errs.Add(1)
	p.noteError(err.Error())
	if code == codes.Unavailable || code == codes.Canceled {
		// The process may be gone: let the supervisor look now rather
		// than at its next poll.
		select {
		case p.kick <- struct{}{}:
		default:
		}
	}
	return p.failure(p.fail.err)
}

func (p *plug) noteError(msg string) {
	p.lastErr.Store(&errRecord{msg: msg, at: time.Now()})
}

// supervise owns the plugin's processes for the Manager's lifetime: it
// verifies the pin, starts the process, watches it, and restarts it with
// backoff when it dies. firstDone is called once, after the first start
// attempt has settled the state.
//
// The goroutine is locked to its OS thread for its whole life and is the
// only one that forks this plugin's processes, so PR_SET_PDEATHSIG (tied to
// the forking thread) fires exactly when the host goes away (see procAttr).
func (p *plug) supervise(stop <-chan struct{}, firstDone func()) {
	lockSpawnThread()
	first := true
	settled := func() {
		if first {
			first = false
			firstDone()
		}
	}
	defer settled()
	defer func() {
		if in := p.cur.Swap(nil); in != nil {
			killClient(in.client, in.cmd) // graceful first, SIGKILL after 2 s
			p.removeSocketDir(in.sockDir)
		}
		p.stopped()
	}()

	if reason := verifyPin(p.cfg.Path, p.pin); reason != "" {
		p.setState(StateNotStarted, reason)
		p.log.Error("plugin not started", "reason", reason)
		return
	}

	tick := time.NewTicker(watchInterval)
	defer tick.Stop()
	fails := 0 // consecutive failed starts and young deaths
	for {
		in, err := p.start()
		if err != nil {
			p.mu.Lock()
			p.startFailures++
			p.mu.Unlock()
			p.noteError(err.Error())
			var perm *permanentError
			if errors.As(err, &perm) {
				p.setState(StateFailed, err.Error())
				p.log.Error("plugin failed; not retrying", "reason", err.Error())
				settled()
				return
			}
			fails++
			p.setState(StateRestarting, "start failed: "+err.Error())
			if fails == 1 || fails%10 == 0 {
				p.log.Warn("plugin start failed", "error", err.Error(), "consecutive_failures", fails)
			}
			settled()
			if !sleep(stop, backoff(fails)) {
				return
			}
			continue
		}
		p.cur.Store(in)
		p.up(in)
		settled()

		why, ok := p.watch(stop, tick, in)
		if !ok {
			return
		}
		p.cur.CompareAndSwap(in, nil)
		p.setState(StateRestarting, why)
		p.log.Warn("plugin down; restarting", "pid", in.pid, "reason", why, "uptime", time.Since(in.started).Round(time.Millisecond).String())
		_ = in.cmd.Process.Kill() // in case it is alive but unusable
		in.client.Kill()
		p.removeSocketDir(in.sockDir)
		if in.served.Load() || time.Since(in.started) >= healthyAfter {
			fails = 0
		}
		fails++
		if !sleep(stop, backoff(fails)) {
			return
		}
	}
}

// watch returns why the process must be replaced, or ok=false when the
// Manager is closing.
func (p *plug) watch(stop <-chan struct{}, tick *time.Ticker, in *instance) (why string, ok bool) {
	for {
		select {
		case <-stop:
			return "", false
		case <-tick.C:
		case <-p.kick:
			if !in.client.Exited() {
				if err := in.probe(); err != nil {
					if !in.client.Exited() {
						return "health check failed: " + err.Error(), true
					}
				} else {
					continue
				}
			}
		}
		if in.client.Exited() {
			// go-plugin sets Exited after cmd.Wait returned, under its
			// lock, so ProcessState is safe to read here.
			why = "process exited"
			if ps := in.cmd.ProcessState; ps != nil {
				why += ": " + ps.String()
			}
			return why, true
		}
	}
}

// probe asks go-plugin's gRPC health service whether the process still
// serves.
func (in *instance) probe() error {
	if in.conn == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	_, err := grpc_health_v1.NewHealthClient(in.conn.Conn).Check(ctx, &grpc_health_v1.HealthCheckRequest{Service: plugin.GRPCServiceName})
	return err
}

// permanentError is a start failure that retrying cannot fix.
type permanentError struct{ msg string }

func (e *permanentError) Error() string { return e.msg }

// start execs a new process (go-plugin re-hashes the file against the pin
// immediately before exec), completes the handshake, dispenses the policy
// client and asks the plugin to describe itself.
func (p *plug) start() (*instance, error) {
	cmd := exec.Command(p.cfg.Path, p.cfg.Args...)
	cmd.SysProcAttr = procAttr()
	sockDir, env := p.newSocketDir()
	cmd.Env = env // nil: go-plugin passes the host's environment
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  sdk.Handshake,
		Plugins:          sdk.PluginMap(nil),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		SecureConfig:     &plugin.SecureConfig{Checksum: p.pin, Hash: sha256.New()},
		StartTimeout:     startTimeout,
		Logger:           p.hlog,
		SyncStdout:       io.Discard,
		SyncStderr:       io.Discard,
		SkipHostEnv:      env != nil, // env holds it already
		GRPCDialOptions:  sdk.GRPCDialOptions(),
	})
	abort := func() {
		killClient(client, cmd)
		p.removeSocketDir(sockDir)
	}
	rpc, err := client.Client() // forks, on this (locked) thread
	if err != nil {
		abort()
		return nil, classifyStartError(p.cfg.Path, err)
	}
	raw, err := rpc.Dispense(sdk.PluginName)
	if err != nil {
		abort()
		return nil, fmt.Errorf("dispense %q: %w", sdk.PluginName, err)
	}
	svc, ok := raw.(pluginv1.PolicyPluginServiceClient)
	if !ok {
		abort()
		return nil, &permanentError{fmt.Sprintf("plugin %q dispensed %T, not a rxguard.plugin.v1 client", sdk.PluginName, raw)}
	}
	conn, _ := rpc.(*plugin.GRPCClient)
	in := &instance{client: client, cmd: cmd, conn: conn, svc: svc, pid: cmd.Process.Pid, started: time.Now(), sockDir: sockDir}

	ctx, cancel := context.WithTimeout(context.Background(), describeTimeout)
	d, err := svc.Describe(ctx, &pluginv1.DescribeRequest{})
	cancel()
	if err != nil {
		// Not fatal: Evaluate is what matters, and if the process is gone
		// the supervisor notices within watchInterval.
		p.noteError("Describe: " + err.Error())
		p.log.Warn("plugin Describe failed", "pid", in.pid, "error", err.Error())
		return in, nil
	}
	desc := Description{Name: d.GetName(), Version: d.GetVersion(), RuleIDs: d.GetRuleIds(), Description: d.GetDescription()}
	p.mu.Lock()
	p.desc = desc
	p.mu.Unlock()
	if desc.Name != "" && desc.Name != p.cfg.Name {
		p.log.Warn("plugin calls itself by another name; findings use the configured one", "describe_name", desc.Name)
	}
	return in, nil
}

// killGrace bounds killClient: go-plugin's own SIGKILL fallback comes
// after 2 s.
var killGrace = 3 * time.Second

// killClient ends a plugin process with go-plugin's Kill (asks it to exit,
// SIGKILLs it after 2 s, waits for it) and returns once it has exited.
// go-plugin's shutdown request has no deadline, so a process that holds
// its socket open but never answers (stopped, wedged) would block Kill
// forever; after killGrace the process is SIGKILLed here, which ends the
// request.
func killClient(client *plugin.Client, cmd *exec.Cmd) {
	done := make(chan struct{})
	go func() { client.Kill(); close(done) }()
	select {
	case <-done:
	case <-time.After(killGrace):
		if cmd.Process != nil {
			_ = cmd.Process.Kill()
		}
		<-done
	}
}

func classifyStartError(path string, err error) error {
	msg := err.Error()
	switch {
	case errors.Is(err, plugin.ErrChecksumsDoNotMatch):
		return &permanentError{fmt.Sprintf("SHA-256 of %s no longer matches the pin; not executed", path)}
	case strings.Contains(msg, "incompatible API version"):
		return &permanentError{fmt.Sprintf("plugin speaks another rxguard.plugin protocol version (host speaks %d): %s; rebuild it against this rxguard's plugins/sdk",
			sdk.ProtocolVersion, strings.TrimPrefix(msg, "incompatible API version with plugin. "))}
	case strings.Contains(msg, "incompatible core API version"), strings.Contains(msg, "unsupported plugin protocol"):
		return &permanentError{"plugin is not a go-plugin gRPC plugin this host can talk to: " + firstLine(msg)}
	}
	return errors.New(firstLine(msg))
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// verifyPin hashes the file at path and compares it with pin. It returns
// why the file must not be run, or "".
func verifyPin(path string, pin []byte) string {
	f, err := os.Open(path)
	if err != nil {
		return "cannot open executable: " + err.Error()
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "cannot stat executable: " + err.Error()
	}
	if !st.Mode().IsRegular() {
		return path + " is not a regular file"
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "cannot read executable: " + err.Error()
	}
	if sum := h.Sum(nil); string(sum) != string(pin) {
		return fmt.Sprintf("SHA-256 mismatch: %s is %s, config pins %s; not executed", path, hex.EncodeToString(sum), hex.EncodeToString(pin))
	}
	return ""
}

func backoff(fails int) time.Duration {
	d := backoffBase
	for i := 1; i < fails && d < backoffCap; i++ {
		d *= 2
	}
	return min(d, backoffCap)
}

// sleep waits d, or returns false as soon as stop is closed.
func sleep(stop <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-stop:
		return false
	case <-t.C:
		return true
	}
}

func (p *plug) setState(s State, reason string) {
	p.mu.Lock()
	if p.state != s {
		p.since = time.Now()
	}
	p.state, p.reason = s, reason
	p.mu.Unlock()
	if s != StateRunning {
		ev := downEvidence(p.cfg.Name, s)
		p.down.Store(&ev)
	}
}

func (p *plug) up(in *instance) {
	p.mu.Lock()
	restart := p.everUp
	if restart {
		p.restarts++
	}
	p.everUp = true
	desc := p.desc
	n := p.restarts
	p.mu.Unlock()
	p.setState(StateRunning, "")
	p.log.Info("plugin running", "pid", in.pid, "name", desc.Name, "version", desc.Version, "rule_ids", desc.RuleIDs, "restarts", n)
}

// stopped marks the end of supervision. not_started and failed stay as they
// are: they say more than "stopped".
func (p *plug) stopped() {
	p.mu.Lock()
	s := p.state
	p.mu.Unlock()
	if s != StateNotStarted && s != StateFailed {
		p.setState(StateStopped, "manager closed")
	}
}

func (p *plug) status() PluginStatus {
	s := PluginStatus{
		Name:        p.cfg.Name,
		Path:        p.cfg.Path,
		OnFailure:   p.cfg.OnFailure,
		Timeout:     p.cfg.Timeout,
		Calls:       p.calls.Load(),
		Errors:      p.errs.Load(),
		Timeouts:    p.timeouts.Load(),
		Unavailable: p.unavailable.Load(),
		Canceled:    p.canceled.Load(),
		BadFixes:    p.badFixes.Load(),
		Latency:     p.lat.stats(),
	}
	if in := p.cur.Load(); in != nil {
		s.PID = in.pid
	}
	if e := p.lastErr.Load(); e != nil {
		s.LastError, s.LastErrorAt = e.msg, e.at
	}
	p.mu.Lock()
	s.State, s.Since, s.Reason = p.state, p.since, p.reason
	s.Restarts, s.StartFailures = p.restarts, p.startFailures
	s.Plugin = p.desc
	s.Plugin.RuleIDs = append([]string(nil), p.desc.RuleIDs...)
	p.mu.Unlock()
	return s
}

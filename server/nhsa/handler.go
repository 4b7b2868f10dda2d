package nhsa

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rxguard/rxguard/server/check"
	"github.com/rxguard/rxguard/server/engine"
	"github.com/rxguard/rxguard/server/validate"
)

// Handler serves POST /nhsa/3101, /nhsa/3102 and /nhsa/3103 over the check
// service. It is safe for concurrent use.
type Handler struct {
	svc     *check.Service
	tables  *tables
	maxBody int64
	log     *slog.Logger
	now     func() time.Time

	requests *prometheus.CounterVec
	// counters are requests' children resolved once: counting a request
	// is one atomic add, no label lookup.
	counters [numEndpoints][numOutcomes]prometheus.Counter
	panics   prometheus.Counter
}

type endpoint int

const (
	ep3101 endpoint = iota
	ep3102
	ep3103
	epOther
	numEndpoints
)

var endpointNames = [numEndpoints]string{"3101", "3102", "3103", "other"}

type outcome int

const (
	outOK outcome = iota
	outBadRequest
	outTooLarge
	outMethod
	outNotFound
	outConflict
	outUnavailable
	outInternal
	numOutcomes
)

var outcomeNames = [numOutcomes]string{"ok", "bad_request", "too_large", "method_not_allowed", "not_found", "conflict", "unavailable", "internal"}

// New returns the national endpoints over svc; cfg's tables are resolved
// once (cfg.Validate reports the same errors).
func New(svc *check.Service, cfg Config, log *slog.Logger) (*Handler, error) {
	t, err := cfg.tables()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	h := &Handler{svc: svc, tables: t, maxBody: cfg.maxBody(), log: log, now: time.Now,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rxguard_nhsa_requests_total",
			Help: "National 3101/3102/3103 requests by endpoint and outcome.",
		}, []string{"endpoint", "outcome"}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "rxguard_nhsa_handler_panics_total",
			Help: "National endpoint requests that panicked and were answered 500 (a bug: the log has the stack).",
		}),
	}
	for e := range numEndpoints {
		for o := range numOutcomes {
			h.counters[e][o] = h.requests.WithLabelValues(endpointNames[e], outcomeNames[o])
		}
	}
	return h, nil
}

// Collectors are the handler's metrics, for the server's registry.
func (h *Handler) Collectors() []prometheus.Collector {
	return []prometheus.Collector{h.requests, h.panics}
}

// Prefix is where the server mounts the handler: every path under it is
// answered the national way (an unknown one with 404 and infcode -1).
const Prefix = "/nhsa/"

// Routes are the paths the handler serves.
func Routes() []string { return []string{"/nhsa/3101", "/nhsa/3102", "/nhsa/3103"} }

// infnos accepted per path: the national numbers, and Hainan's 3660/3661
// for the pre-/in-event analysis.
var infnos = [numEndpoints][]string{{"3101", "3660"}, {"3102", "3661"}, {"3103"}, nil}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	received := h.now()
	ep := epOther
	switch r.URL.Path {
	case "/nhsa/3101":
		ep = ep3101
	case "/nhsa/3102":
		ep = ep3102
	case "/nhsa/3103":
		ep = ep3103
	}
	rep := &reply{RefmsgTime: localTime(received)}
	defer func() {
		if p := recover(); p != nil {
			h.panics.Inc()
			h.log.Error("national endpoint panicked; the request fails with 500, the sidecar goes on",
				"path", r.URL.Path, "panic", p, "stack", string(debug.Stack()))
			h.write(w, ep, http.StatusInternalServerError, outInternal, failure(rep, "rxguard内部错误, 已记录日志, 请联系信息科 (internal error in rxguard, logged; please report it to hospital IT)"))
		}
	}()
	if ep == epOther {
		h.write(w, ep, http.StatusNotFound, outNotFound, failure(rep, fmt.Sprintf("path: 未知交易 %s, 支持 %s (unknown endpoint)", r.URL.Path, strings.Join(Routes(), ", "))))
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.write(w, ep, http.StatusMethodNotAllowed, outMethod, failure(rep, fmt.Sprintf("method: 仅支持POST, 收到%s (only POST is allowed)", r.Method)))
		return
	}
	// The body is read into a pooled buffer: the tree copies what it
	// keeps (scanTree), so nothing points into it after the request.
	bodyBuf := getBuf()
	defer putBuf(bodyBuf)
	body, err := readBody(http.MaxBytesReader(w, r.Body, h.maxBody), *bodyBuf)
	*bodyBuf = body
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			h.write(w, ep, http.StatusRequestEntityTooLarge, outTooLarge, failure(rep, fmt.Sprintf("body: 请求体超过上限%d字节 (body larger than nhsa.max_body_bytes = %d)", h.maxBody, h.maxBody)))
			return
		}
		h.write(w, ep, http.StatusBadRequest, outBadRequest, failure(rep, "body: 读取请求体失败 (could not read the body): "+err.Error()))
		return
	}
	env, err := decodeEnvelope(body)
	if err == nil {
		rep.InfRefmsgid = env.Msgid
		if !accepted(ep, env.Infno) {
			err = fieldErr("infno", "交易编号%q与路径%s不符, 应为%s (infno does not match the path)", validate.Clip(env.Infno), r.URL.Path, strings.Join(infnos[ep], "/"))
		}
	}
	var status int
	var out outcome
	if err == nil {
		if ep == ep3103 {
			status, out, err = h.feedback(r.Context(), env, rep)
		} else {
			status, out, err = h.analyse(r.Context(), env, rep)
		}
	}
	if err != nil {
		status, out = h.failWith(rep, err)
	}
	h.write(w, ep, status, out, rep)
}

func accepted(ep endpoint, infno string) bool {
	for _, n := range infnos[ep] {
		if n == infno {
			return true
		}
	}
	return false
}

// analyse answers a 3101/3102: one check per patient, the results
// concatenated in patient order.
func (h *Handler) analyse(ctx context.Context, env *envelope, rep *reply) (int, outcome, error) {
	a, err := decodeAnalysis(env)
	if err != nil {
		return 0, 0, err
	}
	var n notes
	units, err := mapAnalysis(env, a, h.tables, &n)
	if err != nil {
		return 0, 0, err
	}
	if len(units) > 1 {
		// All or nothing: no patient's decision is recorded when another
		// patient's check would be refused.
		for _, u := range units {
			if _, err := validate.CheckOrders(u.req, h.svc.Limits(), h.now()); err != nil {
				return 0, 0, &unitError{err: err, origin: &u.origin}
			}
		}
	}
	out := &output{Result: []result{}, Ignored: n.list, IgnoredOmitted: n.omitted}
	for _, u := range units {
		resp, err := h.svc.Check(ctx, u.req)
		if err != nil {
			return 0, 0, &unitError{err: err, origin: &u.origin}
		}
		out.Result = append(out.Result, results(u, a.TaskID, resp)...)
		out.Decisions = append(out.Decisions, decisionRef{PatnID: u.patient.PatnID, MdtrtID: u.enc.MdtrtID,
			DecisionID: resp.DecisionId, Verdict: resp.Verdict.String(), KnowledgeVersion: resp.KnowledgeVersion})
	}
	rep.Output = out
	return http.StatusOK, outOK, nil
}

// unitError is a check service error with the origin that translates its
// field paths back to the national ones.
type unitError struct {
	err    error
	origin interface{ national(string) string }
}

func (e *unitError) Error() string { return e.err.Error() }
func (e *unitError) Unwrap() error { return e.err }

// failWith fills rep for err and returns the HTTP status: bad input 400,
// unknown decision or finding 404, a state that forbids it 409, the
// service unavailable 503, anything else 500; infcode -1 always.
func (h *Handler) failWith(rep *reply, err error) (int, outcome) {
	rep.Infcode, rep.Output = -1, nil
	var fe *FieldError
	if errors.As(err, &fe) {
		rep.ErrMsg = fe.Error()
		rep.Violations = []Note{{Path: fe.Path, Reason: fe.Reason}}
		return http.StatusBadRequest, outBadRequest
	}
	if ve := (*validate.Error)(nil); errors.As(err, &ve) {
		var o interface{ national(string) string } = protoPaths{}
		if ue := (*unitError)(nil); errors.As(err, &ue) {
			o = ue.origin
		}
		for _, v := range validate.Violations(ve) {
			rep.Violations = append(rep.Violations, Note{Path: o.national(v.Field), Reason: v.Description})
		}
		msgs := make([]string, 0, 3)
		for _, v := range rep.Violations[:min(3, len(rep.Violations))] {
			msgs = append(msgs, v.Path+": "+v.Reason)
		}
		rep.ErrMsg = strings.Join(msgs, "; ")
		if len(rep.Violations) > 3 {
			rep.ErrMsg += fmt.Sprintf("; 另有%d处 (%d more in violations)", len(rep.Violations)-3, len(rep.Violations)-3)
		}
		return http.StatusBadRequest, outBadRequest
	}
	var re *refusal
	if errors.As(err, &re) {
		rep.ErrMsg = re.path + ": " + re.msg
		return re.status, re.outcome
	}
	var ce *check.Error
	if errors.As(err, &ce) {
		rep.ErrMsg = ce.Msg
		switch ce.Kind {
		case check.Unavailable, check.ResourceExhausted:
			return http.StatusServiceUnavailable, outUnavailable
		case check.NotFound:
			return http.StatusNotFound, outNotFound
		case check.FailedPrecondition:
			return http.StatusConflict, outConflict
		}
		return http.StatusInternalServerError, outInternal
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		rep.ErrMsg = "请求已取消或超时 (request canceled or timed out): " + err.Error()
		return http.StatusServiceUnavailable, outUnavailable
	}
	h.log.Error("national endpoint failed", "err", err)
	rep.ErrMsg = "rxguard内部错误 (internal error): " + err.Error()
	return http.StatusInternalServerError, outInternal
}

// protoPaths names violations by their proto path when there is no origin.
type protoPaths struct{}

func (protoPaths) national(f string) string { return f }

// refusal is a 3103 refused for a reason found before recording (unknown
// finding, continuing a BLOCK), at a national path.
type refusal struct {
	status  int
	outcome outcome
	path    string
	msg     string
}

func (r *refusal) Error() string { return r.path + ": " + r.msg }

func failure(rep *reply, msg string) *reply {
	rep.Infcode, rep.ErrMsg, rep.Output = -1, msg, nil
	return rep
}

func (h *Handler) write(w http.ResponseWriter, ep endpoint, status int, out outcome, rep *reply) {
	h.counters[ep][out].Inc()
	rep.RespondTime = localTime(h.now())
	buf := getBuf()
	defer putBuf(buf)
	*buf = appendReply(*buf, rep)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	// Known length: no chunked encoding for the HIS to undo.
	w.Header().Set("Content-Length", strconv.Itoa(len(*buf)))
	w.WriteHeader(status)
	_, _ = w.Write(*buf)
}

// localTime is the national time format in Asia/Shanghai.
func localTime(t time.Time) string { return t.In(engine.Shanghai).Format("2006-01-02 15:04:05") }

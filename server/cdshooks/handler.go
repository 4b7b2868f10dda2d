// Package cdshooks is the HL7 CDS Hooks 2.0 adapter of the check service:
// discovery, the order-sign and order-select services answering cards,
// and the feedback endpoint recording the physician's answers in the
// decision log. It only translates FHIR to CheckOrders and findings to
// cards (and errors to OperationOutcomes); every decision is the check
// service's. Client JWTs are verified by the jwtauth sub-package.
// docs/cds-hooks.md is the reference for integrators.
package cdshooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/server/cdshooks/jwtauth"
	"github.com/rxguard/rxguard/server/check"
	"github.com/rxguard/rxguard/server/validate"
)

// Service is what the adapter needs of the check service (*check.Service).
type Service interface {
	Check(ctx context.Context, req *rxguardv1.CheckOrdersRequest) (*rxguardv1.CheckOrdersResponse, error)
	RecordResponse(ctx context.Context, req *rxguardv1.RecordResponseRequest) (*rxguardv1.RecordResponseResponse, error)
	GetDecision(ctx context.Context, req *rxguardv1.GetDecisionRequest) (*rxguardv1.GetDecisionResponse, error)
}

// MaxBodyBytes bounds a request body. FHIR JSON of one order-entry screen
// with its prefetch is far below it; the check service's own limit (1 MiB
// of protobuf) is smaller than the JSON that carries it. It is below the
// HTTP listener's transport cap (4 MiB), so an oversized hook call gets
// this adapter's OperationOutcome, not the listener's bare 413.
const MaxBodyBytes = 2 << 20

// Service ids (discovery) and the hooks they answer.
const (
	ServiceOrderSign   = "rxguard-order-sign"
	ServiceOrderSelect = "rxguard-order-select"
)

var hooks = map[string]string{ServiceOrderSign: "order-sign", ServiceOrderSelect: "order-select"}

// Handler serves /cds-services and everything under it.
type Handler struct {
	svc      Service
	tr       *translator
	baseURL  string
	verifier *jwtauth.Verifier // nil: no client authentication
	log      *slog.Logger
	metrics  *metrics
}

// New builds the handler of an enabled, validated configuration; it reads
// the issuers' key set files now.
func New(cfg Config, svc Service, log *slog.Logger) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.WithDefaults()
	if log == nil {
		log = slog.Default()
	}
	h := &Handler{svc: svc, tr: newTranslator(cfg), baseURL: cfg.BaseURL, log: log, metrics: newMetrics()}
	if len(cfg.JWT.Issuers) > 0 {
		issuers := make([]jwtauth.Issuer, len(cfg.JWT.Issuers))
		for i, is := range cfg.JWT.Issuers {
			issuers[i] = jwtauth.Issuer{Iss: is.Iss, JWKSFile: is.JWKSFile, JWKSURL: is.JWKSURL}
		}
		v, err := jwtauth.New(jwtauth.Options{Issuers: issuers, MaxIATAge: cfg.maxIATAge(), Logger: log})
		if err != nil {
			return nil, fmt.Errorf("cds_hooks.jwt: %w", err)
		}
		h.verifier = v
	}
	return h, nil
}

// Collectors are the handler's Prometheus metrics.
func (h *Handler) Collectors() []prometheus.Collector { return []prometheus.Collector{h.metrics} }

// Register adds the handler's routes to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.Handle("/cds-services", h)
	mux.Handle("/cds-services/", h)
}

// ServeHTTP routes /cds-services, /cds-services/{id} and
// /cds-services/{id}/feedback. It never panics on input: every failure is
// an OperationOutcome with a status.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, _ := strings.CutPrefix(r.URL.Path, "/cds-services")
	rest = strings.TrimPrefix(rest, "/")
	id, sub, _ := strings.Cut(rest, "/")
	switch {
	case id == "":
		h.serve(w, r, epDiscovery, http.MethodGet, false, h.discovery)
	case hooks[id] == "":
		h.answer(w, epUnknown, fail(http.StatusNotFound, "not-found", "", "no CDS service %q: GET /cds-services lists them", clipS(id)))
	case sub == "":
		ep := epOrderSign
		if id == ServiceOrderSelect {
			ep = epOrderSelect
		}
		h.serve(w, r, ep, http.MethodPost, true, func(ctx context.Context, body []byte) (any, *httpError) {
			return h.hook(ctx, hooks[id], body)
		})
	case sub == "feedback":
		h.serve(w, r, epFeedback, http.MethodPost, true, h.feedback)
	default:
		h.answer(w, epUnknown, fail(http.StatusNotFound, "not-found", "", "no such endpoint under /cds-services/%s", clipS(id)))
	}
}

// serve checks method, authentication and size, then runs fn on the body.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request, ep endpoint, method string, auth bool,
	fn func(ctx context.Context, body []byte) (any, *httpError)) {
	if r.Method != method {
		w.Header().Set("Allow", method)
		h.answer(w, ep, fail(http.StatusMethodNotAllowed, "not-supported", "", "%s is not allowed here; use %s", clipS(r.Method), method))
		return
	}
	if auth && h.verifier != nil {
		if e := h.authenticate(w, r, ep); e != nil {
			h.answer(w, ep, e)
			return
		}
	}
	var body []byte
	if method == http.MethodPost {
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			h.answer(w, ep, fail(http.StatusRequestEntityTooLarge, "too-long", "", "request body over %d bytes", MaxBodyBytes))
			return
		case err != nil:
			h.answer(w, ep, fail(http.StatusBadRequest, "invalid", "", "reading the request body: %v", err))
			return
		}
		body = b
	}
	v, e := fn(r.Context(), body)
	if e != nil {
		h.answer(w, ep, e)
		return
	}
	h.metrics.request(ep, http.StatusOK)
	writeJSON(w, http.StatusOK, v)
}

// authenticate verifies the client JWT; aud must be the URL the EHR
// called: base_url + the request path.
func (h *Handler) authenticate(w http.ResponseWriter, r *http.Request, ep endpoint) *httpError {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		token = ""
	}
	_, err := h.verifier.Verify(r.Context(), strings.TrimSpace(token), h.baseURL+r.URL.Path)
	if err == nil {
		return nil
	}
	reason, msg := jwtauth.ReasonMalformed, err.Error()
	var ae *jwtauth.Error
	if errors.As(err, &ae) {
		reason, msg = ae.Reason, ae.Msg
	}
	h.metrics.authFailure(reason)
	// The token is never logged; the reason and the caller are.
	h.log.Warn("CDS Hooks client refused", "reason", reason, "detail", msg, "endpoint", ep.String(), "remote", r.RemoteAddr)
	if reason == jwtauth.ReasonMissing {
		w.Header().Set("WWW-Authenticate", `Bearer realm="rxguard"`)
	} else {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="rxguard", error="invalid_token", error_description=%q`, reason))
	}
	return fail(http.StatusUnauthorized, "security", "", "client authentication failed (%s): %s", reason, msg)
}

func (h *Handler) answer(w http.ResponseWriter, ep endpoint, e *httpError) {
	h.metrics.request(ep, e.status)
	writeJSON(w, e.status, operationOutcome{ResourceType: "OperationOutcome", Issue: e.issues})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"exception","diagnostics":"encoding the answer failed"}]}`)
	}
	if _, ok := v.(operationOutcome); ok {
		w.Header().Set("Content-Type", "application/fhir+json; charset=utf-8")
	} else {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
	}
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// discovery is GET /cds-services.
func (h *Handler) discovery(context.Context, []byte) (any, *httpError) {
	prefetch := map[string]string{
		"patient":    "Patient/{{context.patientId}}",
		"encounter":  "Encounter/{{context.encounterId}}",
		"conditions": "Condition?patient={{context.patientId}}&encounter={{context.encounterId}}",
		"coverage":   "Coverage?patient={{context.patientId}}&status=active",
	}
	type service struct {
		Hook        string            `json:"hook"`
		ID          string            `json:"id"`
		Title       string            `json:"title"`
		Description string            `json:"description"`
		Prefetch    map[string]string `json:"prefetch"`
		UsageReqs   string            `json:"usageRequirements"`
	}
	usage := "MedicationRequest/ServiceRequest must carry the national 医保目录 code (system " + SystemHIList +
		"); Conditions ICD-10 医保版 (system " + SystemICD10 + "); context.userId is Practitioner/<医保医师编码>. " +
		"A card with extension rxguard-block true must stop signing (docs/cds-hooks.md)."
	return map[string][]service{"services": {
		{Hook: "order-sign", ID: ServiceOrderSign, Title: "rxguard 医保事前审核（签署）",
			Description: "在签署医嘱前按医保两库规则、医师支付资格和本院规则审核全部草稿医嘱：明确违规（critical）须修改，可疑违规（warning）可说明理由后继续。",
			Prefetch:    prefetch, UsageReqs: usage},
		{Hook: "order-select", ID: ServiceOrderSelect, Title: "rxguard 医保事前提醒（选择）",
			Description: "选择医嘱时即审核：结合全部草稿医嘱判断，只提示涉及所选医嘱的问题。",
			Prefetch:    prefetch, UsageReqs: usage},
	}}, nil
}

// hook answers order-sign and order-select.
func (h *Handler) hook(ctx context.Context, hook string, body []byte) (any, *httpError) {
	tr, e := h.tr.decode(body, hook)
	if e != nil {
		return nil, e
	}
	if len(tr.req.Orders) == 0 {
		// Nothing rxguard checks (a NutritionOrder, an empty Bundle).
		return hookResponse{Cards: []card{}, Extension: responseExtension{Verdict: "PASS"}}, nil
	}
	resp, err := h.svc.Check(ctx, tr.req)
	if err != nil {
		return nil, h.serviceError(err, tr.fhirPath)
	}
	return buildResponse(resp, tr), nil
}

// serviceError maps the check service's errors; bad input names the FHIR
// path the field came from.
func (h *Handler) serviceError(err error, path func(string) string) *httpError {
	var ve *validate.Error
	if errors.As(err, &ve) {
		e := &httpError{status: http.StatusBadRequest}
		for _, v := range ve.Violations {
			p := v.GetField()
			if path != nil {
				p = path(p)
			}
			e.issues = append(e.issues, issue{Severity: "error", Code: "invalid", Diagnostics: v.GetField() + ": " + v.GetDescription(), Expression: []string{p}})
		}
		if ve.Omitted > 0 {
			e.issues = append(e.issues, issue{Severity: "error", Code: "too-costly", Diagnostics: fmt.Sprintf("%d more violation(s) omitted", ve.Omitted)})
		}
		if len(e.issues) == 0 {
			e.issues = []issue{{Severity: "error", Code: "invalid", Diagnostics: ve.Error()}}
		}
		return e
	}
	var ce *check.Error
	if errors.As(err, &ce) {
		switch ce.Kind {
		case check.NotFound:
			return fail(http.StatusBadRequest, "not-found", "", "%s", ce.Msg)
		case check.FailedPrecondition:
			return fail(http.StatusConflict, "business-rule", "", "%s", ce.Msg)
		case check.Unavailable, check.ResourceExhausted:
			return fail(http.StatusServiceUnavailable, "transient", "", "%s", ce.Msg)
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fail(http.StatusServiceUnavailable, "timeout", "", "the request was cancelled: %v", err)
	}
	h.log.Error("CDS Hooks: check service failed", "err", err)
	return fail(http.StatusInternalServerError, "exception", "", "rxguard failed: %v", err)
}

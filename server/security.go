package server

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	reflectionv1alpha "google.golang.org/grpc/reflection/grpc_reflection_v1alpha"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/internal/auth"
	"github.com/rxguard/rxguard/internal/tlsreload"
)

// Security is the listeners' TLS and authentication (docs/security.md).
// The zero value is today's loopback default: plaintext, no credentials.
type Security struct {
	GRPC, HTTP ListenerSecurity
	// MetricsRole and StatusRole protect /metrics and /status (zero:
	// auth.Public, open like /healthz).
	MetricsRole, StatusRole auth.Role
}

// ListenerSecurity is one listener's TLS and authentication.
type ListenerSecurity struct {
	// TLS serves the listener over TLS (nil: plaintext).
	TLS *tlsreload.Server
	// Auth enforces the roles (nil: any caller may use every declared
	// route; routes without a role are refused all the same).
	Auth *auth.Authenticator
}

// grpcMethodRoles is who may call each gRPC method. Every method the
// server registers must be here: the interceptor refuses one that is not,
// and TestRolesTable calls every method of GetServiceInfo with no, wrong
// and right credentials.
func grpcMethodRoles() auth.MethodRoles {
	return auth.MethodRoles{
		rxguardv1.GuardService_CheckOrders_FullMethodName:         auth.HIS,
		rxguardv1.GuardService_ExplainItem_FullMethodName:         auth.HIS,
		rxguardv1.GuardService_RecordSigned_FullMethodName:        auth.HIS,
		rxguardv1.GuardService_GetPhysicianStatus_FullMethodName:  auth.HIS,
		rxguardv1.GuardService_RecordSharedResults_FullMethodName: auth.HIS,
		rxguardv1.GuardService_RecordResponse_FullMethodName:      auth.HIS,
		// The physician's own view, shown inside the HIS.
		rxguardv1.GuardService_GetPhysicianReport_FullMethodName: auth.HIS,

		// Patient data: the audit readers only.
		rxguardv1.AuditService_GetDecision_FullMethodName:         auth.Audit,
		rxguardv1.AuditService_QueryDecisions_FullMethodName:      auth.Audit,
		rxguardv1.AuditService_GetPhysicianReport_FullMethodName:  auth.Audit,
		rxguardv1.AuditService_GetDepartmentReport_FullMethodName: auth.Audit,

		// Probes must work without credentials (kubelet, load balancers).
		healthpb.Health_Check_FullMethodName: auth.Public,
		healthpb.Health_Watch_FullMethodName: auth.Public,
		healthpb.Health_List_FullMethodName:  auth.Public,
		// Reflection reveals the API's schema, which is published anyway
		// (proto/); open so grpcurl works with a token and no proto files.
		reflectionv1.ServerReflection_ServerReflectionInfo_FullMethodName:      auth.Public,
		reflectionv1alpha.ServerReflection_ServerReflectionInfo_FullMethodName: auth.Public,
	}
}

// grpcSecurityOptions are the gRPC server options of sec: TLS credentials
// and the role interceptors (which run before the panic recoverer, so a
// refused call never reaches a handler).
func grpcSecurityOptions(sec ListenerSecurity, roles auth.MethodRoles) []grpc.ServerOption {
	opts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(sec.Auth.UnaryInterceptor(roles)),
		grpc.ChainStreamInterceptor(sec.Auth.StreamInterceptor(roles)),
	}
	if sec.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(sec.TLS.Config())))
	}
	return opts
}

// routes is the HTTP mux with the role of every route: handle is the
// only way to add one, and it takes the role.
type routes struct {
	mux  *http.ServeMux
	auth *auth.Authenticator
	list []auth.Route
}

func newRoutes(a *auth.Authenticator) *routes {
	return &routes{mux: http.NewServeMux(), auth: a}
}

// handle registers h on pattern for callers holding role (auth.Public:
// everyone).
func (rt *routes) handle(pattern string, role auth.Role, h http.Handler) {
	rt.list = append(rt.list, auth.Route{Pattern: pattern, Role: role})
	rt.mux.Handle(pattern, rt.auth.Handler(pattern, role, h))
}

func (rt *routes) handleFunc(pattern string, role auth.Role, h http.HandlerFunc) {
	rt.handle(pattern, role, h)
}

// Routes lists the HTTP routes and their roles.
func (s *Server) Routes() []auth.Route { return append([]auth.Route(nil), s.routes.list...) }

// MethodRoles is the role of every gRPC method (a copy).
func (s *Server) MethodRoles() auth.MethodRoles {
	out := make(auth.MethodRoles, len(s.methods))
	for k, v := range s.methods {
		out[k] = v
	}
	return out
}

// GRPCServer is the gRPC server (GetServiceInfo lists what it serves).
func (s *Server) GRPCServer() *grpc.Server { return s.grpc }

// securityCollectors are the metrics of the listeners' TLS and
// authentication.
func (sec Security) collectors() []prometheus.Collector {
	var out []prometheus.Collector
	out = append(out, sec.GRPC.Auth.Collectors()...)
	out = append(out, sec.HTTP.Auth.Collectors()...)
	var tlsServers []*tlsreload.Server
	for _, l := range []ListenerSecurity{sec.GRPC, sec.HTTP} {
		if l.TLS != nil {
			tlsServers = append(tlsServers, l.TLS)
		}
	}
	if len(tlsServers) > 0 {
		out = append(out, &tlsCollector{servers: tlsServers,
			notAfter: prometheus.NewDesc("rxguard_tls_certificate_not_after_seconds", "Expiry (unix seconds) of the certificate the listener serves; alert well before it.", []string{"listener"}, nil),
			errors:   prometheus.NewDesc("rxguard_tls_reload_errors_total", "Certificate reloads that failed; the previous certificate stayed in service (the log says why).", []string{"listener"}, nil),
			reloads:  prometheus.NewDesc("rxguard_tls_reloads_total", "Certificates reloaded from disk after a change.", []string{"listener"}, nil),
		})
	}
	return out
}

type tlsCollector struct {
	servers                   []*tlsreload.Server
	notAfter, errors, reloads *prometheus.Desc
}

func (c *tlsCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.notAfter
	ch <- c.errors
	ch <- c.reloads
}

func (c *tlsCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.servers {
		st := s.Status()
		ch <- prometheus.MustNewConstMetric(c.notAfter, prometheus.GaugeValue, float64(st.NotAfter.Unix()), st.Name)
		ch <- prometheus.MustNewConstMetric(c.errors, prometheus.CounterValue, float64(st.Errors), st.Name)
		ch <- prometheus.MustNewConstMetric(c.reloads, prometheus.CounterValue, float64(st.Reloads), st.Name)
	}
}

// status is the security part of /status: per listener whether TLS and
// authentication are on, the certificate served and its reload outcome,
// and the token file's.
func (sec Security) status() map[string]any {
	out := map[string]any{}
	for name, l := range map[string]ListenerSecurity{"grpc": sec.GRPC, "http": sec.HTTP} {
		m := map[string]any{"tls": l.TLS != nil, "auth": l.Auth.Enabled()}
		if l.TLS != nil {
			st := l.TLS.Status()
			m["certificate"] = map[string]any{"serial": st.Serial.Text(16), "not_after": st.NotAfter, "loaded_at": st.LoadedAt,
				"mutual_tls": l.TLS.MutualTLS(), "reloads": st.Reloads, "reload_errors": st.Errors, "last_error": st.LastError}
		}
		if t := l.Auth.Tokens(); t != nil {
			st := t.Status()
			m["token_file"] = map[string]any{"path": st.Path, "tokens": st.Tokens, "reloads": st.Reloads, "reload_errors": st.Errors, "last_error": st.LastError}
		}
		out[name] = m
	}
	out["metrics_role"], out["status_role"] = cmpRole(sec.MetricsRole), cmpRole(sec.StatusRole)
	return out
}

func cmpRole(r auth.Role) string {
	if r == auth.Undeclared {
		return auth.Public.String()
	}
	return r.String()
}

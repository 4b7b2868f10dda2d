package cdshooks

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

// Code systems rxguard reads and writes in FHIR (contract, INTEROP.md).
const (
	// SystemHIList is the national 医保目录 code system (drugs, service
	// items, consumables).
	SystemHIList = "urn:rxguard:nhsa:hilist"
	// SystemICD10 is ICD-10 医保版.
	SystemICD10 = "urn:rxguard:nhsa:icd10"
	// SystemReason is the response reason codes (validate.ReasonCodes).
	SystemReason = "urn:rxguard:reason"
	// SystemInsuType is the national 险种 code (insutype: 310, 390, 510 …).
	SystemInsuType = "urn:rxguard:nhsa:insutype"
	// SystemInsuranceType is rxguard's own InsuranceType value names.
	SystemInsuranceType = "urn:rxguard:insurance-type"
	// SystemRuleType names a finding's rule type in a card's source.topic.
	SystemRuleType = "urn:rxguard:rule-type"
)

// Extensions of MedicationRequest and ServiceRequest rxguard reads (and
// writes in suggestions): the line's self_pay and restriction_attested.
const (
	ExtSelfPay             = "urn:rxguard:fhir:self-pay"
	ExtRestrictionAttested = "urn:rxguard:fhir:restriction-attested"
)

// DefaultMaxIATAge is how old a client JWT's iat may be.
const DefaultMaxIATAge = 5 * time.Minute

// Config is the cds_hooks section of the sidecar configuration. The zero
// value is "off"; WithDefaults fills what an enabled section may omit.
type Config struct {
	// Enabled serves /cds-services on the HTTP listener.
	Enabled bool `json:"enabled,omitempty" yaml:"enabled,omitempty"`
	// BaseURL is the sidecar's URL as the EHR calls it (scheme, host,
	// port, optional path prefix, e.g. "https://rxguard.hosp.local:7601").
	// A client JWT's aud must be BaseURL + the request path; required
	// when jwt.issuers is set.
	BaseURL string `json:"base_url,omitempty" yaml:"base_url,omitempty"`
	// Hospital is this hospital (FHIR requests do not carry it).
	Hospital HospitalConfig `json:"hospital" yaml:"hospital"`
	// DefaultInsuranceType is the patient's insurance type when the
	// prefetch carries no usable Coverage, as an InsuranceType value name;
	// default INSURANCE_EMPLOYEE.
	DefaultInsuranceType string `json:"default_insurance_type,omitempty" yaml:"default_insurance_type,omitempty"`
	// CodeSystems are aliases accepted besides the contract systems.
	CodeSystems CodeSystemsConfig `json:"code_systems,omitzero" yaml:"code_systems,omitempty"`
	// JWT turns on client authentication; no issuers: none.
	JWT JWTConfig `json:"jwt,omitzero" yaml:"jwt,omitempty"`
}

// HospitalConfig is the hospital whose orders this sidecar checks.
type HospitalConfig struct {
	Code  string `json:"code" yaml:"code"`
	Level int32  `json:"level" yaml:"level"` // 1, 2, 3 = 一级/二级/三级
}

// CodeSystemsConfig lists alias URIs of the contract code systems (a HIS
// that already publishes its own URI for the national codes).
type CodeSystemsConfig struct {
	HIList []string `json:"hilist,omitempty" yaml:"hilist,omitempty"`
	ICD10  []string `json:"icd10,omitempty" yaml:"icd10,omitempty"`
}

// JWTConfig is client authentication (CDS Hooks 2.0 §Trusting CDS Clients).
type JWTConfig struct {
	Issuers []IssuerConfig `json:"issuers,omitempty" yaml:"issuers,omitempty"`
	// MaxIATAge: Go duration; a token issued longer ago is refused
	// (default 5m). It also bounds how long a jti is remembered.
	MaxIATAge string `json:"max_iat_age,omitempty" yaml:"max_iat_age,omitempty"`
}

// IssuerConfig is one allowed client (iss) with its key set: exactly one
// of JWKSFile and JWKSURL.
type IssuerConfig struct {
	Iss      string `json:"iss" yaml:"iss"`
	JWKSFile string `json:"jwks_file,omitempty" yaml:"jwks_file,omitempty"`
	JWKSURL  string `json:"jwks_url,omitempty" yaml:"jwks_url,omitempty"`
}

// WithDefaults returns c with the defaults of omitted settings.
func (c Config) WithDefaults() Config {
	if c.DefaultInsuranceType == "" {
		c.DefaultInsuranceType = rxguardv1.InsuranceType_INSURANCE_EMPLOYEE.String()
	}
	if c.JWT.MaxIATAge == "" {
		c.JWT.MaxIATAge = DefaultMaxIATAge.String()
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	return c
}

// Validate reports every bad setting of an enabled section, each naming
// its key under cds_hooks. A disabled section is not checked.
func (c Config) Validate() error {
	if !c.Enabled {
		return nil
	}
	c = c.WithDefaults()
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("cds_hooks.%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if strings.TrimSpace(c.Hospital.Code) == "" {
		bad("hospital.code", "required: the hospital's national code (FHIR requests do not carry it)")
	}
	if c.Hospital.Level < 1 || c.Hospital.Level > 3 {
		bad("hospital.level", "must be 1, 2 or 3 (一级/二级/三级), got %d", c.Hospital.Level)
	}
	if v, ok := rxguardv1.InsuranceType_value[c.DefaultInsuranceType]; !ok || v == 0 {
		bad("default_insurance_type", "%q is not one of INSURANCE_EMPLOYEE, INSURANCE_RESIDENT, INSURANCE_WORK_INJURY, INSURANCE_MATERNITY, INSURANCE_SELF_PAY", c.DefaultInsuranceType)
	}
	if c.BaseURL != "" {
		if err := checkBaseURL(c.BaseURL); err != nil {
			bad("base_url", "%v", err)
		}
	}
	for i, s := range c.CodeSystems.HIList {
		if strings.TrimSpace(s) == "" {
			bad(fmt.Sprintf("code_systems.hilist[%d]", i), "empty URI")
		}
	}
	for i, s := range c.CodeSystems.ICD10 {
		if strings.TrimSpace(s) == "" {
			bad(fmt.Sprintf("code_systems.icd10[%d]", i), "empty URI")
		}
	}
	if d, err := time.ParseDuration(c.JWT.MaxIATAge); err != nil || d <= 0 {
		bad("jwt.max_iat_age", "%q is not a positive Go duration (e.g. \"5m\")", c.JWT.MaxIATAge)
	}
	if len(c.JWT.Issuers) > 0 && c.BaseURL == "" {
		bad("base_url", "required with jwt.issuers: a token's aud must be the exact service URL the EHR calls")
	}
	seen := map[string]int{}
	for i, is := range c.JWT.Issuers {
		key := fmt.Sprintf("jwt.issuers[%d]", i)
		if strings.TrimSpace(is.Iss) == "" {
			bad(key+".iss", "required")
		} else if j, dup := seen[is.Iss]; dup {
			bad(key+".iss", "%q is already jwt.issuers[%d]", is.Iss, j)
		} else {
			seen[is.Iss] = i
		}
		switch {
		case (is.JWKSFile == "") == (is.JWKSURL == ""):
			bad(key, "exactly one of jwks_file and jwks_url is required")
		case is.JWKSURL != "":
			if u, err := url.Parse(is.JWKSURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				bad(key+".jwks_url", "%q is not an http(s) URL", is.JWKSURL)
			}
		}
	}
	return errors.Join(errs...)
}

func checkBaseURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return fmt.Errorf("%q is not a URL: %w", s, err)
	case u.Scheme != "https" && u.Scheme != "http", u.Host == "":
		return fmt.Errorf("%q must be an absolute http(s) URL such as https://rxguard.hosp.local:7601", s)
	case u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("%q must not have a query or fragment", s)
	}
	return nil
}

// maxIATAge is the validated jwt.max_iat_age.
func (c Config) maxIATAge() time.Duration {
	d, err := time.ParseDuration(c.JWT.MaxIATAge)
	if err != nil || d <= 0 {
		return DefaultMaxIATAge
	}
	return d
}

func (c Config) insuranceType() rxguardv1.InsuranceType {
	return rxguardv1.InsuranceType(rxguardv1.InsuranceType_value[c.DefaultInsuranceType])
}

package engine

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/rxguard/rxguard/knowledge"
)

// Validate reports every unknown rule type and every action that is not
// INFO, WARN or BLOCK, each starting with its key path within the section
// ("rules.DRUG_GENDR: unknown rule type; known: …"), so the configuration
// loader can name the key. New reports the same problems, the first one.
func (c Config) Validate() error {
	types := make([]knowledge.RuleType, 0, len(c.Rules))
	for t := range c.Rules {
		types = append(types, t)
	}
	slices.Sort(types)
	var errs []error
	for _, t := range types {
		if ruleByType[t] == nil {
			errs = append(errs, fmt.Errorf("rules.%s: unknown rule type; known: %s", t, knownRuleTypes()))
			continue
		}
		if a := c.Rules[t].Action; a != "" {
			if _, ok := ParseAction(a); !ok {
				errs = append(errs, fmt.Errorf("rules.%s.action: %q is not one of INFO, WARN, BLOCK (empty: the rule type's own)", t, a))
			}
		}
		if w := c.Rules[t].WindowDays; w != nil {
			switch {
			case t != knowledge.RuleReadmission:
				errs = append(errs, fmt.Errorf("rules.%s.window_days: only READMISSION has a window_days setting; remove it", t))
			case *w < 1 || *w > MaxReadmissionDays:
				errs = append(errs, fmt.Errorf("rules.%s.window_days: %d must be 1 to %d days", t, *w, MaxReadmissionDays))
			}
		}
	}
	return errors.Join(errs...)
}

// knownRuleTypes lists the rule types in report order, for error messages.
func knownRuleTypes() string {
	names := make([]string, len(ruleList))
	for i, s := range ruleList {
		names[i] = string(s.typ)
	}
	return strings.Join(names, ", ")
}

package strictconf

import (
	"fmt"
	"strings"
)

// Expand replaces ${VAR} and ${VAR:-default} in s by the variable's value
// (the default when it is unset or empty) and $$ by $. Any other $ is kept
// as written. An unset variable without a default is an error naming it:
// a secret that is silently empty would fail later and far from its cause.
// Values are expanded once: a variable's value is never expanded again.
func Expand(s string, lookup func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
			continue
		case '{':
		default:
			b.WriteByte(c)
			continue
		}
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			return "", fmt.Errorf("unterminated ${ in %q (write $$ for a literal $)", s)
		}
		expr := s[i+2 : i+2+end]
		name, def, hasDef := strings.Cut(expr, ":-")
		if !validName(name) {
			return "", fmt.Errorf("${%s}: %q is not an environment variable name (letters, digits and _, not starting with a digit; ${NAME:-default} for a default; $$ for a literal $)", expr, name)
		}
		val, ok := lookup(name)
		switch {
		case ok && val != "":
			b.WriteString(val)
		case hasDef:
			b.WriteString(def)
		case ok:
			// Set but empty, no default: the operator said empty.
		default:
			return "", fmt.Errorf("environment variable %s is not set (set it, or write ${%s:-default})", name, name)
		}
		i += 2 + end
	}
	return b.String(), nil
}

func validName(name string) bool {
	if name == "" || (name[0] >= '0' && name[0] <= '9') {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
			return false
		}
	}
	return true
}

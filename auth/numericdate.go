package auth

import (
	"encoding/json"
	"fmt"
)

// dateClaims are the registered claims whose value is a NumericDate.
var dateClaims = [...]string{"exp", "nbf", "iat"}

// UnmarshalJSON decodes a token's claims, refusing an exp, nbf or iat that
// is not a JSON number. RFC 7519 makes a NumericDate a number; the JWT
// library would also take one written as a string ("exp": "4102444800"),
// which no issuer that follows the RFC writes. The error names the claim.
func (c *Claims) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	for _, name := range dateClaims {
		v, ok := raw[name]
		if !ok || isJSONNumber(v) {
			continue
		}
		return fmt.Errorf("claim %s: %.40s is not a NumericDate (want a JSON number of seconds)", name, v)
	}
	type plain Claims // without this method
	return json.Unmarshal(b, (*plain)(c))
}

// isJSONNumber reports whether v, a valid JSON value, is a number: the
// only JSON values that start with a minus sign or a digit.
func isJSONNumber(v json.RawMessage) bool {
	return len(v) > 0 && (v[0] == '-' || ('0' <= v[0] && v[0] <= '9'))
}

package wire

import (
	"strings"

	"github.com/godwit-db/godwit/engine/apierr"
)

// sigV4Algorithm is the only signing algorithm DynamoDB accepts.
const sigV4Algorithm = "AWS4-HMAC-SHA256"

// Signature is a parsed SigV4 Authorization header:
//
//	AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/dynamodb/aws4_request,
//	    SignedHeaders=host;x-amz-date;x-amz-target, Signature=<64 hex>
//
// Every field is a substring of the header as sent; nothing is verified.
type Signature struct {
	Algorithm     string // "AWS4-HMAC-SHA256"
	AccessKeyID   string // first element of Credential
	Date          string // credential scope date, YYYYMMDD as sent
	Region        string // credential scope region
	Service       string // credential scope service ("dynamodb" for DynamoDB and Streams)
	Terminator    string // credential scope terminator ("aws4_request")
	SignedHeaders string // lowercase header names joined by ';', as sent
	Signature     string // hex HMAC, as sent
	RequestTime   string // X-Amz-Date, or Date when X-Amz-Date is absent
	SecurityToken string // X-Amz-Security-Token; "" unless temporary credentials are used
}

// ParseSignature parses a SigV4 Authorization header; requestTime is the
// request's X-Amz-Date header (or its Date header when X-Amz-Date is absent).
// It checks the header's shape only, with AWS's messages and in AWS's order:
// a header that is not SigV4 gives MissingAuthenticationTokenException; a
// missing Credential, Signature, SignedHeaders or request time, an algorithm
// other than AWS4-HMAC-SHA256, or a Credential without exactly five
// slash-separated elements gives IncompleteSignatureException. On error the
// returned Signature still holds whatever parsed (often the access key id).
func ParseSignature(authorization, requestTime string) (Signature, error) {
	sig := Signature{RequestTime: requestTime}
	auth := strings.TrimSpace(authorization)
	if !strings.HasPrefix(auth, "AWS4-") {
		return sig, apierr.MissingAuthenticationToken()
	}
	alg, params, _ := strings.Cut(auth, " ")
	sig.Algorithm = alg
	var credential string
	for params != "" {
		var part string
		part, params, _ = strings.Cut(params, ",")
		key, val, _ := strings.Cut(strings.TrimSpace(part), "=")
		val = strings.TrimSpace(val)
		switch strings.TrimSpace(key) {
		case "Credential":
			credential = val
		case "Signature":
			sig.Signature = val
		case "SignedHeaders":
			sig.SignedHeaders = val
		}
	}
	if credential != "" {
		sig.AccessKeyID, _, _ = strings.Cut(credential, "/")
	}

	var missing strings.Builder
	for _, p := range [...]struct{ name, val string }{
		{"Credential", credential},
		{"Signature", sig.Signature},
		{"SignedHeaders", sig.SignedHeaders},
	} {
		if p.val == "" {
			missing.WriteString("Authorization header requires '" + p.name + "' parameter. ")
		}
	}
	if requestTime == "" {
		missing.WriteString("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. ")
	}
	if missing.Len() > 0 {
		return sig, apierr.IncompleteSignature("%sAuthorization=%s", missing.String(), authorization)
	}
	if alg != sigV4Algorithm {
		return sig, apierr.IncompleteSignature("Unsupported AWS 'algorithm': '%s' (only %s for now). ", alg, sigV4Algorithm)
	}

	// NB: AWS ignores trailing slashes in the credential.
	scope := strings.TrimRight(credential, "/")
	var parts [5]string
	n := 0
	for rest := scope; ; n++ {
		part, more, found := strings.Cut(rest, "/")
		if n < len(parts) {
			parts[n] = part
		}
		if !found {
			n++
			break
		}
		rest = more
	}
	if n != len(parts) {
		return sig, apierr.IncompleteSignature(
			"Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '%s'", scope)
	}
	sig.Date, sig.Region, sig.Service, sig.Terminator = parts[1], parts[2], parts[3], parts[4]
	return sig, nil
}

// Package apierr is the catalogue of errors godwit returns on the wire: each
// one carries DynamoDB's exception name, its namespace and HTTP status, so a
// client's SDK classifies it exactly as it would an AWS answer.
//
// Code below the wire layer returns *Error (through the constructors here) for
// anything a client caused; any other error reaching the wire layer becomes an
// InternalServerError.
package apierr

import (
	"errors"
	"fmt"
	"net/http"
)

// Namespaces seen on AWS in the "__type" member.
const (
	NSDynamoDB = "com.amazonaws.dynamodb.v20120810"
	NSValidate = "com.amazon.coral.validate"
	NSService  = "com.amazon.coral.service"
)

// CancellationReason is one entry of TransactionCanceledException's
// CancellationReasons, in the order of the request's TransactItems.
// Item is the raw DynamoDB-JSON image of the item (ALL_OLD on a failed condition).
type CancellationReason struct {
	Code    string `json:"Code"`
	Message string `json:"Message,omitempty"`
	Item    any    `json:"Item,omitempty"`
}

// Error is an API error as DynamoDB reports it.
type Error struct {
	Code      string // exception name, e.g. "ValidationException"
	Namespace string // one of the NS constants
	Status    int    // HTTP status
	Message   string
	// CapitalMessage sends "Message" rather than "message" (AWS does so for a few exceptions).
	CapitalMessage bool
	// Item is the existing item attached to ConditionalCheckFailedException when
	// ReturnValuesOnConditionCheckFailure=ALL_OLD was asked for (DynamoDB JSON).
	Item any
	// CancellationReasons accompany TransactionCanceledException.
	CancellationReasons []CancellationReason
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Is makes errors.Is(err, apierr.ErrConditionalCheckFailed) and friends match on code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && t.Message == ""
}

// As returns the *Error inside err, or nil.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

func newErr(ns, code string, status int, format string, args ...any) *Error {
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	return &Error{Code: code, Namespace: ns, Status: status, Message: msg}
}

// Sentinels for errors.Is (code only, no message).
var (
	ErrValidation          = &Error{Code: "ValidationException"}
	ErrConditionalCheck    = &Error{Code: "ConditionalCheckFailedException"}
	ErrResourceNotFound    = &Error{Code: "ResourceNotFoundException"}
	ErrResourceInUse       = &Error{Code: "ResourceInUseException"}
	ErrTransactionCanceled = &Error{Code: "TransactionCanceledException"}
)

// Validation is ValidationException (400), the answer to nearly every bad parameter.
func Validation(format string, args ...any) *Error {
	return newErr(NSValidate, "ValidationException", http.StatusBadRequest, format, args...)
}

// Serialization is SerializationException (400): the body is not the JSON the operation takes.
func Serialization(format string, args ...any) *Error {
	return newErr(NSService, "SerializationException", http.StatusBadRequest, format, args...)
}

// UnknownOperation is UnknownOperationException (400): the X-Amz-Target names no operation.
func UnknownOperation() *Error {
	return newErr(NSService, "UnknownOperationException", http.StatusBadRequest, "")
}

// MissingAuthenticationToken is MissingAuthenticationTokenException (400).
func MissingAuthenticationToken() *Error {
	return newErr(NSService, "MissingAuthenticationTokenException", http.StatusBadRequest, "Request is missing Authentication Token")
}

// IncompleteSignature is IncompleteSignatureException (400).
func IncompleteSignature(format string, args ...any) *Error {
	return newErr(NSService, "IncompleteSignatureException", http.StatusBadRequest, format, args...)
}

// ResourceNotFound is ResourceNotFoundException (400).
func ResourceNotFound(format string, args ...any) *Error {
	return newErr(NSDynamoDB, "ResourceNotFoundException", http.StatusBadRequest, format, args...)
}

// TableNotFound is ResourceNotFoundException worded as DynamoDB words it for a table.
func TableNotFound(table string) *Error {
	return ResourceNotFound("Requested resource not found: Table: %s not found", table)
}

// ResourceInUse is ResourceInUseException (400).
func ResourceInUse(format string, args ...any) *Error {
	return newErr(NSDynamoDB, "ResourceInUseException", http.StatusBadRequest, format, args...)
}

// ConditionalCheckFailed is ConditionalCheckFailedException (400); item is the
// old item (DynamoDB JSON) when ReturnValuesOnConditionCheckFailure=ALL_OLD, else nil.
func ConditionalCheckFailed(item any) *Error {
	e := newErr(NSDynamoDB, "ConditionalCheckFailedException", http.StatusBadRequest, "The conditional request failed")
	e.Item = item
	return e
}

// TransactionCanceled is TransactionCanceledException (400) with its reasons in item order.
func TransactionCanceled(reasons []CancellationReason) *Error {
	codes := ""
	for i, r := range reasons {
		if i > 0 {
			codes += ", "
		}
		codes += r.Code
	}
	e := newErr(NSDynamoDB, "TransactionCanceledException", http.StatusBadRequest,
		"Transaction cancelled, please refer cancellation reasons for specific reasons [%s]", codes)
	e.CapitalMessage = true
	e.CancellationReasons = reasons
	return e
}

// TransactionConflict is TransactionConflictException (400).
func TransactionConflict() *Error {
	return newErr(NSDynamoDB, "TransactionConflictException", http.StatusBadRequest,
		"Transaction is ongoing for the item")
}

// TransactionInProgress is TransactionInProgressException (400).
func TransactionInProgress() *Error {
	e := newErr(NSDynamoDB, "TransactionInProgressException", http.StatusBadRequest,
		"Transaction with the given request token is already in progress.")
	e.CapitalMessage = true
	return e
}

// IdempotentParameterMismatch is IdempotentParameterMismatchException (400).
func IdempotentParameterMismatch() *Error {
	e := newErr(NSDynamoDB, "IdempotentParameterMismatchException", http.StatusBadRequest,
		"Request token was used with a different set of parameters within the idempotency window.")
	e.CapitalMessage = true
	return e
}

// LimitExceeded is LimitExceededException (400).
func LimitExceeded(format string, args ...any) *Error {
	return newErr(NSDynamoDB, "LimitExceededException", http.StatusBadRequest, format, args...)
}

// ItemCollectionSizeLimitExceeded is ItemCollectionSizeLimitExceededException (400).
func ItemCollectionSizeLimitExceeded() *Error {
	return newErr(NSDynamoDB, "ItemCollectionSizeLimitExceededException", http.StatusBadRequest,
		"Item collection size limit exceeded")
}

// GlobalTableNotFound is GlobalTableNotFoundException (400), the answer to the legacy 2017 API.
func GlobalTableNotFound(name string) *Error {
	return newErr(NSDynamoDB, "GlobalTableNotFoundException", http.StatusBadRequest,
		"Global table with name '%s' does not exist.", name)
}

// RequestTooLarge is the 413 answer for a body over the 16 MB request limit.
func RequestTooLarge() *Error {
	return newErr(NSService, "RequestEntityTooLarge", http.StatusRequestEntityTooLarge,
		"Request entity too large")
}

// ExpiredIterator is ExpiredIteratorException (400): a DynamoDB Streams
// shard iterator used more than 15 minutes after it was issued.
func ExpiredIterator(format string, args ...any) *Error {
	return newErr(NSDynamoDB, "ExpiredIteratorException", http.StatusBadRequest, format, args...)
}

// TrimmedDataAccess is TrimmedDataAccessException (400): a DynamoDB Streams
// read of records already removed by the stream's retention.
func TrimmedDataAccess(format string, args ...any) *Error {
	return newErr(NSDynamoDB, "TrimmedDataAccessException", http.StatusBadRequest, format, args...)
}

// Internal is InternalServerError (500). The message never carries internals.
func Internal() *Error {
	return newErr(NSDynamoDB, "InternalServerError", http.StatusInternalServerError, "Internal server error")
}

// ServiceUnavailable is ServiceUnavailable (503), e.g. while shutting down.
func ServiceUnavailable() *Error {
	return newErr(NSDynamoDB, "ServiceUnavailable", http.StatusServiceUnavailable, "Service unavailable")
}

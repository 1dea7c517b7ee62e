package hubspotsim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/uuid"
)

// apiError is HubSpot's error body:
// {"status":"error","message","correlationId","category","errors":[{"message","code","context"}]}.
type apiError struct {
	httpStatus int

	Status        string              `json:"status"`
	Message       string              `json:"message"`
	CorrelationID string              `json:"correlationId"`
	Category      string              `json:"category,omitempty"`
	SubCategory   string              `json:"subCategory,omitempty"`
	Errors        []errorDetail       `json:"errors,omitempty"`
	Context       map[string][]string `json:"context,omitempty"`
	Links         map[string]string   `json:"links,omitempty"`
	// Rate-limit bodies.
	ErrorType  string `json:"errorType,omitempty"`
	PolicyName string `json:"policyName,omitempty"`
}

type errorDetail struct {
	Message string              `json:"message"`
	Code    string              `json:"code,omitempty"`
	In      string              `json:"in,omitempty"`
	Context map[string][]string `json:"context,omitempty"`
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.httpStatus, e.Category, e.Message)
}

func newErr(status int, category, msg string) *apiError {
	return &apiError{httpStatus: status, Status: "error", Message: msg, Category: category}
}

func validationErr(msg string) *apiError {
	return newErr(http.StatusBadRequest, "VALIDATION_ERROR", msg)
}

func notFoundErr(msg string) *apiError { return newErr(http.StatusNotFound, "OBJECT_NOT_FOUND", msg) }

// propertyError is one entry of HubSpot's "Property values were not valid"
// list: {"isValid":false,"message","error","name"}.
type propertyError struct {
	IsValid bool   `json:"isValid"`
	Message string `json:"message"`
	Error   string `json:"error"`
	Name    string `json:"name"`
}

// propertyValuesErr is HubSpot's 400 for bad property values: the message
// embeds the JSON list of invalid properties, as HubSpot does, and errors[]
// names each property with its code (PROPERTY_DOESNT_EXIST, INVALID_OPTION,
// READ_ONLY_VALUE, ...) in context.propertyName.
func propertyValuesErr(errs []propertyError) *apiError {
	list, _ := json.Marshal(errs)
	e := validationErr("Property values were not valid: " + string(list))
	for _, pe := range errs {
		e.Errors = append(e.Errors, errorDetail{
			Message: pe.Message,
			Code:    pe.Error,
			Context: map[string][]string{"propertyName": {pe.Name}},
		})
	}
	return e
}

func invalidJSONErr(err error) *apiError {
	return validationErr("Invalid input JSON: " + err.Error())
}

func missingScopesErr(scopes []string) *apiError {
	e := newErr(http.StatusForbidden, "MISSING_SCOPES",
		"This app hasn't been granted all required scopes to make this call. Read more about required scopes here: https://developers.hubspot.com/scopes.")
	e.Errors = []errorDetail{{
		Message: "One or more of the following scopes are required.",
		Context: map[string][]string{"requiredGranularScopes": scopes},
	}}
	e.Links = map[string]string{"scopes": "https://developers.hubspot.com/scopes"}
	return e
}

func rateLimitErr(policy string) *apiError {
	e := &apiError{httpStatus: http.StatusTooManyRequests, Status: "error", ErrorType: "RATE_LIMIT", PolicyName: policy}
	switch policy {
	case "TEN_SECONDLY_ROLLING":
		e.Message = "You have reached your ten_secondly_rolling limit."
	case "SECONDLY":
		// HubSpot's Node client recognises the search limit by this exact message.
		e.Message = "You have reached your secondly limit."
	case "DAILY":
		e.Message = "You have reached your daily limit."
	}
	return e
}

// injectedErr is the body of a failure injected with FailNext.
func injectedErr(status int) *apiError {
	switch status {
	case http.StatusTooManyRequests:
		return rateLimitErr("TEN_SECONDLY_ROLLING")
	case http.StatusInternalServerError:
		return newErr(status, "INTERNAL_ERROR", "internal error")
	case http.StatusBadGateway:
		return newErr(status, "BAD_GATEWAY", "Bad Gateway")
	case http.StatusServiceUnavailable:
		return newErr(status, "SERVICE_UNAVAILABLE", "Service Unavailable")
	case http.StatusGatewayTimeout:
		return newErr(status, "GATEWAY_TIMEOUT", "Gateway Timeout")
	}
	return newErr(status, strings.ToUpper(strings.ReplaceAll(http.StatusText(status), " ", "_")), http.StatusText(status))
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	if status == http.StatusNoContent || body == nil {
		w.WriteHeader(status)
		return
	}
	b, err := json.Marshal(body)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"status":"error","message":"simulator: cannot encode response","category":"INTERNAL_ERROR"}`)
	}
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeErr(w http.ResponseWriter, e *apiError) {
	if e.CorrelationID == "" {
		e.CorrelationID = uuid.NewString()
	}
	w.Header().Set("X-HubSpot-Correlation-Id", e.CorrelationID)
	writeJSON(w, e.httpStatus, e)
}

package hubspot

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// MaxBatchInputs is the most inputs one batch call takes; the batch methods
// split larger inputs into calls of this size.
const MaxBatchInputs = 100

// BatchResult is what a batch method returns: the objects written or read,
// and one BatchError per input HubSpot could not handle (a 207 answer). Per-
// input errors do not make the call fail.
type BatchResult[T any] struct {
	Results []T
	Errors  []BatchError
}

// BatchError is HubSpot's error for some inputs of a batch, e.g.
// OBJECT_NOT_FOUND with Context["ids"] naming the missing IDs.
type BatchError struct {
	Status   string
	Category string
	Message  string
	Context  map[string][]string
	Errors   []ErrorDetail
}

// IDs are the inputs this error is about, when HubSpot says (context.ids).
func (e BatchError) IDs() []string { return e.Context["ids"] }

// UpsertedObject is an upsert's result: the object and whether the upsert
// created it.
type UpsertedObject struct {
	Object
	New bool
}

// UnmarshalJSON reads HubSpot's object shape plus its "new" flag.
func (u *UpsertedObject) UnmarshalJSON(b []byte) error {
	var w objectJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	u.Object, u.New = w.object(), w.New
	return nil
}

// batchResponse is HubSpot's batch answer, 200 or 207.
type batchResponse[T any] struct {
	Status  string `json:"status"`
	Results []T    `json:"results"`
	Errors  []struct {
		Status   string                `json:"status"`
		Category string                `json:"category"`
		Message  string                `json:"message"`
		Context  map[string]stringList `json:"context"`
		Errors   []struct {
			Message string                `json:"message"`
			Code    string                `json:"code"`
			In      string                `json:"in"`
			Context map[string]stringList `json:"context"`
		} `json:"errors"`
	} `json:"errors"`
}

func (r batchResponse[T]) errors() []BatchError {
	var out []BatchError
	for _, e := range r.Errors {
		be := BatchError{Status: e.Status, Category: e.Category, Message: e.Message, Context: contextMap(e.Context)}
		for _, d := range e.Errors {
			be.Errors = append(be.Errors, ErrorDetail{Message: d.Message, Code: d.Code, In: d.In, Context: contextMap(d.Context)})
		}
		out = append(out, be)
	}
	return out
}

// runBatch sends inputs in calls of at most MaxBatchInputs, one after the
// other, and merges the answers. When a call fails as a whole it returns the
// merged results of the calls before it with the error, which names the
// failed inputs' range.
func runBatch[In, Out any](ctx context.Context, c *Client, t ObjectType, op string, inputs []In, body func([]In) any) (*BatchResult[Out], error) {
	merged := &BatchResult[Out]{}
	for start := 0; start < len(inputs); start += MaxBatchInputs {
		end := min(start+MaxBatchInputs, len(inputs))
		var resp batchResponse[Out]
		err := c.do(ctx, request{method: http.MethodPost, path: objectsPath(t, "batch", op), body: body(inputs[start:end])}, &resp)
		if err != nil {
			return merged, fmt.Errorf("hubspot: batch %s of %s, inputs %d to %d of %d: %w", op, t, start+1, end, len(inputs), err)
		}
		merged.Results = append(merged.Results, resp.Results...)
		merged.Errors = append(merged.Errors, resp.errors()...)
	}
	return merged, nil
}

// BatchReadOptions says what a batch read returns and how the inputs
// identify objects.
type BatchReadOptions struct {
	Properties []string
	// IDProperty makes the IDs values of a unique property ("email").
	IDProperty string
	Archived   bool
}

// BatchRead reads many objects by ID (or by opts.IDProperty). IDs that match
// nothing come back as a BatchError (OBJECT_NOT_FOUND), not as a failure.
func (c *Client) BatchRead(ctx context.Context, t ObjectType, ids []string, opts BatchReadOptions) (*BatchResult[Object], error) {
	type idInput struct {
		ID string `json:"id"`
	}
	return runBatch[string, Object](ctx, c, t, "read", ids, func(chunk []string) any {
		inputs := make([]idInput, len(chunk))
		for i, id := range chunk {
			inputs[i] = idInput{ID: id}
		}
		props := opts.Properties
		if props == nil {
			props = []string{}
		}
		return struct {
			Properties []string  `json:"properties"`
			IDProperty string    `json:"idProperty,omitempty"`
			Inputs     []idInput `json:"inputs"`
		}{props, opts.IDProperty, inputs}
	})
}

// BatchCreate creates many objects. A batch create is not idempotent: when
// it returns an error, the objects of the calls before the failed one exist
// (they are in the returned result).
func (c *Client) BatchCreate(ctx context.Context, t ObjectType, inputs []CreateInput) (*BatchResult[Object], error) {
	return runBatch[CreateInput, Object](ctx, c, t, "create", inputs, func(chunk []CreateInput) any {
		out := make([]CreateInput, len(chunk))
		for i, in := range chunk {
			in.Properties = orEmpty(in.Properties)
			out[i] = in
		}
		return map[string]any{"inputs": out}
	})
}

// UpdateInput sets properties on one object, identified by ID or by the
// value of IDProperty.
type UpdateInput struct {
	ID         string            `json:"id"`
	IDProperty string            `json:"idProperty,omitempty"`
	Properties map[string]string `json:"properties"`
}

// BatchUpdate updates many objects.
func (c *Client) BatchUpdate(ctx context.Context, t ObjectType, inputs []UpdateInput) (*BatchResult[Object], error) {
	return runBatch[UpdateInput, Object](ctx, c, t, "update", inputs, func(chunk []UpdateInput) any {
		out := make([]UpdateInput, len(chunk))
		for i, in := range chunk {
			in.Properties = orEmpty(in.Properties)
			out[i] = in
		}
		return map[string]any{"inputs": out}
	})
}

// UpsertInput creates or updates the object whose IDProperty (e.g. "email")
// has the value ID.
type UpsertInput struct {
	ID         string            `json:"id"`
	IDProperty string            `json:"idProperty"`
	Properties map[string]string `json:"properties"`
}

// BatchUpsert creates or updates many objects by a unique property.
func (c *Client) BatchUpsert(ctx context.Context, t ObjectType, inputs []UpsertInput) (*BatchResult[UpsertedObject], error) {
	return runBatch[UpsertInput, UpsertedObject](ctx, c, t, "upsert", inputs, func(chunk []UpsertInput) any {
		out := make([]UpsertInput, len(chunk))
		for i, in := range chunk {
			in.Properties = orEmpty(in.Properties)
			out[i] = in
		}
		return map[string]any{"inputs": out}
	})
}

// orEmpty keeps a nil property map from being sent as null.
func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

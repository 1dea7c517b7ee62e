package hubspot

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Pipeline is a deal pipeline and its stages, in display order.
type Pipeline struct {
	ID           string    `json:"id"`
	Label        string    `json:"label"`
	DisplayOrder int       `json:"displayOrder"`
	Archived     bool      `json:"archived"`
	Stages       []Stage   `json:"stages"`
	CreatedAt    time.Time `json:"createdAt"`
	UpdatedAt    time.Time `json:"updatedAt"`
}

// Stage returns the pipeline's stage with the given ID.
func (p Pipeline) Stage(id string) (Stage, bool) {
	for _, s := range p.Stages {
		if s.ID == id {
			return s, true
		}
	}
	return Stage{}, false
}

// Stage is one deal stage. The default pipeline's stage IDs are words
// (closedwon, closedlost); custom pipelines' are numbers, so tell won and
// lost by the metadata, never by the ID.
type Stage struct {
	ID           string        `json:"id"`
	Label        string        `json:"label"`
	DisplayOrder int           `json:"displayOrder"`
	Archived     bool          `json:"archived"`
	Metadata     StageMetadata `json:"metadata"`
}

// IsWon reports whether a deal in this stage is won: a closed stage with
// probability 1.
func (s Stage) IsWon() bool {
	return s.Metadata.IsClosed && s.Metadata.HasProbability && s.Metadata.Probability >= 1
}

// IsLost reports whether a deal in this stage is lost: a closed stage with
// probability 0.
func (s Stage) IsLost() bool {
	return s.Metadata.IsClosed && s.Metadata.HasProbability && s.Metadata.Probability <= 0
}

// StageMetadata is a stage's metadata. HubSpot sends every value as a string
// ("isClosed":"true", "probability":"0.2"); booleans and numbers are
// accepted too.
type StageMetadata struct {
	IsClosed bool
	// Probability is the chance, 0 to 1, that a deal in this stage closes
	// won; HasProbability says whether HubSpot gave one.
	Probability    float64
	HasProbability bool
	// Raw holds every metadata value as text.
	Raw map[string]string
}

// UnmarshalJSON reads metadata whose values may be strings, booleans or
// numbers.
func (m *StageMetadata) UnmarshalJSON(b []byte) error {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*m = StageMetadata{Raw: make(map[string]string, len(raw))}
	for k, v := range raw {
		text := string(bytes.TrimSpace(v))
		var s string
		if json.Unmarshal(v, &s) == nil {
			text = s
		}
		if text == "null" {
			continue
		}
		m.Raw[k] = text
	}
	if v, ok := m.Raw["isClosed"]; ok {
		m.IsClosed, _ = strconv.ParseBool(strings.TrimSpace(v))
	}
	if v, ok := m.Raw["probability"]; ok {
		if p, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
			m.Probability, m.HasProbability = p, true
		}
	}
	return nil
}

// MarshalJSON writes the metadata as HubSpot does, every value a string.
func (m StageMetadata) MarshalJSON() ([]byte, error) {
	out := make(map[string]string, len(m.Raw)+2)
	for k, v := range m.Raw {
		out[k] = v
	}
	out["isClosed"] = strconv.FormatBool(m.IsClosed)
	if m.HasProbability {
		out["probability"] = strconv.FormatFloat(m.Probability, 'f', -1, 64)
	}
	return json.Marshal(out)
}

func dealPipelinesPath(segments ...string) string {
	return "/crm/pipelines/" + APIVersion + "/deals" + joinSegments(segments)
}

// ListDealPipelines reads every deal pipeline with its stages.
func (c *Client) ListDealPipelines(ctx context.Context) ([]Pipeline, error) {
	var out struct {
		Results []Pipeline `json:"results"`
	}
	if err := c.do(ctx, request{method: http.MethodGet, path: dealPipelinesPath()}, &out); err != nil {
		return nil, err
	}
	return out.Results, nil
}

// GetDealPipeline reads one deal pipeline ("default" for the default one);
// an unknown ID is a *NotFoundError.
func (c *Client) GetDealPipeline(ctx context.Context, id string) (*Pipeline, error) {
	var out Pipeline
	if err := c.do(ctx, request{method: http.MethodGet, path: dealPipelinesPath(id)}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Package temporalclient connects referflow's processes to Temporal and
// prepares the namespace (the search attributes its caller names) before
// any workflow runs.
package temporalclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
)

// Dial connects to the Temporal frontend at address, logging through logger
// and reporting the SDK's metrics to metrics (nil: none; a worker's client
// passes NewMetricsHandler's). Payloads go through dc (nil: Temporal's
// default): referflow's processes pass personaldata.DataConverter, so every
// client and worker seals personal data the same way. It fails fast with the address in the message
// when the server does not answer, so a wrong TEMPORAL_ADDRESS is obvious at
// start-up.
func Dial(ctx context.Context, address, namespace string, logger *slog.Logger, metrics client.MetricsHandler, dc converter.DataConverter) (client.Client, error) {
	dialCtx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	c, err := client.DialContext(dialCtx, client.Options{
		HostPort:       address,
		Namespace:      namespace,
		Logger:         NewLogger(logger.With("component", "temporal")),
		MetricsHandler: metrics,
		DataConverter:  dc,
	})
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s (TEMPORAL_ADDRESS): %w", address, err)
	}
	return c, nil
}

// RegisterSearchAttributes adds search attributes (the workflows' own, which
// the caller passes: workflows.SearchAttributes) to the namespace, skipping
// those already there. It is safe to call from every process at every start:
// a restarted dev server ignores the --search-attribute flag on an existing
// database, so registration cannot be left to the server's command line.
func RegisterSearchAttributes(ctx context.Context, c client.Client, namespace string, want map[string]enumspb.IndexedValueType) error {
	return registerSearchAttributes(ctx, c.OperatorService(), namespace, want)
}

func registerSearchAttributes(ctx context.Context, ops operatorservice.OperatorServiceClient, namespace string, want map[string]enumspb.IndexedValueType) error {
	existing, err := ops.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("list search attributes of namespace %q: %w", namespace, err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		typ := want[name]
		if have, ok := existing.GetCustomAttributes()[name]; ok {
			if have != typ {
				return fmt.Errorf("search attribute %s exists in namespace %q as %s, referflow needs %s", name, namespace, have, typ)
			}
			continue
		}
		missing[name] = typ
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = ops.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace:        namespace,
		SearchAttributes: missing,
	})
	var exists *serviceerror.AlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("add search attributes %v to namespace %q: %w", slices.Sorted(maps.Keys(missing)), namespace, err)
	}
	return nil
}

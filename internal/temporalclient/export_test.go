package temporalclient

// RegisterSearchAttributesForTest exposes registration of an arbitrary set
// of attributes, to test adding and type conflicts.
var RegisterSearchAttributesForTest = registerSearchAttributes

package campaign

// Status is where a campaign stands (campaigns.status).
type Status string

// The statuses. A new campaign is a draft; active campaigns match HubSpot
// records; the Sales Receiver reads the rules of every campaign but archived
// ones.
const (
	Draft    Status = "draft"
	Active   Status = "active"
	Paused   Status = "paused"
	Archived Status = "archived"
)

// Statuses lists them in lifecycle order.
var Statuses = []Status{Draft, Active, Paused, Archived}

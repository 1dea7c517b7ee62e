package reward

// Status is where a reward stands (rewards.status): pending (created, maybe
// held) → issued, or cancelled (a deal that fell back during the hold, an
// admin) or failed. An issued reward an admin marked paid stays issued, with
// paid_at set.
type Status string

// The statuses.
const (
	Pending   Status = "pending"
	Issued    Status = "issued"
	Cancelled Status = "cancelled"
	Failed    Status = "failed"
)

package activities

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/temporal"

	"github.com/referflow/referflow/db"
	"github.com/referflow/referflow/internal/hubspot"
	"github.com/referflow/referflow/internal/hubspotobject"
)

// MemberWriteResult is what WriteMemberToHubSpot did with a member.
type MemberWriteResult struct {
	// Skipped says why nothing was written: HubSpot has no contact for the
	// member (creating member contacts is the Referrers settings' job).
	Skipped string `json:",omitempty"`
	// ContactID is the HubSpot contact written to, as stored on the member.
	ContactID string `json:",omitempty"`
	// ContactLinked is set when this call stored ContactID on the member: the
	// contact was found by the member's email, or the stored contact had been
	// merged into another one.
	ContactLinked bool `json:",omitempty"`
	// Properties are the values written to the contact.
	Properties map[string]string `json:",omitempty"`
}

// ErrorTypeMemberNotFound is the error type of a member write whose member
// does not exist.
const ErrorTypeMemberNotFound = "MemberNotFound"

// memberSkippedNoContact is MemberWriteResult.Skipped when HubSpot has no
// contact with the member's email.
const memberSkippedNoContact = "no HubSpot contact with the member's email"

// WriteMemberToHubSpot writes a member's referflow properties to its HubSpot
// contact: referral code, referral link (<PublicURL>/r/<code>), referral
// count and converted referral count, as the member row has them
// (AddReferral and ChangeReferralStatus keep the counts current).
//
// The contact is the one whose ID is stored on the member. A member without
// one is looked up by email; the contact found has its ID stored on the
// member before it is written, so later calls go by ID. No contact with the
// member's email is MemberWriteResult.Skipped: this activity creates no
// contacts. A stored contact that HubSpot no longer has (deleted) is looked
// up by email again the same way; one HubSpot merged into another is written
// through its old ID and the surviving ID is stored.
//
// A portal that lacks referflow's properties (connected a moment ago, its
// setup still running) gets them created, and the write is tried once more
// (updateRecord).
//
// Idempotent: the values are set, not added to, so a retry or a second call
// writes the same values again. A workspace without a working HubSpot
// connection fails at once (hubspot.ErrorTypeConnectionBroken, not
// retryable); other errors go through hubspot.TemporalError.
func (h *HubSpot) WriteMemberToHubSpot(ctx context.Context, memberID string) (MemberWriteResult, error) {
	if h == nil || h.Queries == nil {
		return MemberWriteResult{}, temporal.NewNonRetryableApplicationError("this worker's HubSpot activities have no database", ErrorTypeHubSpotNotConfigured, nil)
	}
	id, err := uuid.Parse(memberID)
	if err != nil {
		return MemberWriteResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%q is not a member ID", memberID), "InvalidInput", err)
	}
	m, err := h.Queries.MemberGetByID(ctx, id)
	if errors.Is(err, pgx.ErrNoRows) {
		return MemberWriteResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("member %s does not exist", id), ErrorTypeMemberNotFound, err)
	}
	if err != nil {
		return MemberWriteResult{}, fmt.Errorf("load member %s: %w", id, err)
	}
	if m.ErasedAt != nil {
		return MemberWriteResult{Skipped: ErasedSkip}, nil
	}
	props, err := memberProperties(m, h.PublicURL)
	if err != nil {
		return MemberWriteResult{}, err
	}
	c, err := h.client(ctx, m.WorkspaceID)
	if err != nil {
		return MemberWriteResult{}, err
	}

	res := MemberWriteResult{ContactID: leadIDString(m.HubspotContactID)}
	skipped := memberSkippedNoContact
	if res.ContactID != "" {
		updated, err := updateRecord(ctx, c, hubspot.Contacts, res.ContactID, props)
		var notFound *hubspot.NotFoundError
		switch {
		case errors.As(err, &notFound):
			// Deleted in HubSpot: find the member's contact again by email.
			skipped = fmt.Sprintf("HubSpot contact %s no longer exists and there is %s", res.ContactID, memberSkippedNoContact)
			res.ContactID = ""
		case err != nil:
			return MemberWriteResult{}, hubspot.TemporalError(fmt.Errorf("update member %s's contact %s: %w", m.ID, res.ContactID, err))
		default:
			if updated.ID != "" && updated.ID != res.ContactID {
				// Merged into another contact, which HubSpot answered with.
				if err := h.storeMemberContact(ctx, m, updated.ID); err != nil {
					return MemberWriteResult{}, err
				}
				res.ContactID, res.ContactLinked = updated.ID, true
			}
			res.Properties = props
			return res, nil
		}
	}

	found, err := c.GetContactByEmail(ctx, m.Email, "email")
	var notFound *hubspot.NotFoundError
	if errors.As(err, &notFound) {
		return MemberWriteResult{Skipped: skipped}, nil
	}
	if err != nil {
		return MemberWriteResult{}, hubspot.TemporalError(fmt.Errorf("look up member %s's contact by email: %w", m.ID, err))
	}
	// Stored before the write, so that a retry after a failed write goes by
	// ID like every later call.
	if err := h.storeMemberContact(ctx, m, found.ID); err != nil {
		return MemberWriteResult{}, err
	}
	res.ContactID, res.ContactLinked = found.ID, true
	if _, err := updateRecord(ctx, c, hubspot.Contacts, found.ID, props); err != nil {
		return MemberWriteResult{}, hubspot.TemporalError(fmt.Errorf("update member %s's contact %s: %w", m.ID, found.ID, err))
	}
	res.Properties = props
	return res, nil
}

// memberProperties are the referflow properties of a member's contact.
func memberProperties(m db.Member, publicURL string) (map[string]string, error) {
	if publicURL == "" {
		return nil, temporal.NewNonRetryableApplicationError(
			"the member's referral link cannot be written: this worker has no public URL (REFERFLOW_PUBLIC_URL)", ErrorTypeHubSpotNotConfigured, nil)
	}
	return map[string]string{
		hubspotobject.PropReferralCode:           m.ReferralCode,
		hubspotobject.PropReferralLink:           strings.TrimRight(publicURL, "/") + "/r/" + m.ReferralCode,
		hubspotobject.PropReferralCount:          strconv.Itoa(int(m.ReferralCount)),
		hubspotobject.PropConvertedReferralCount: strconv.Itoa(int(m.ConvertedReferralCount)),
	}, nil
}

func (h *HubSpot) storeMemberContact(ctx context.Context, m db.Member, contactID string) error {
	n, err := strconv.ParseInt(contactID, 10, 64)
	if err != nil {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("HubSpot contact ID %q is not a number", contactID), hubspot.ErrorTypeUnexpected, err)
	}
	if _, err := h.Queries.MemberSetHubSpotContact(ctx, db.MemberSetHubSpotContactParams{ID: m.ID, HubspotContactID: &n}); err != nil {
		return fmt.Errorf("store HubSpot contact %s on member %s: %w", contactID, m.ID, err)
	}
	return nil
}

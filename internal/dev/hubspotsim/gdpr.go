package hubspotsim

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
)

// POST .../contacts/gdpr-delete {"objectId", "idProperty"}: HubSpot's
// GDPR-compliant deletion. The contact is deleted permanently — not to the
// recycle bin: it cannot be read, restored or found again — with its
// associations and list memberships, and HubSpot emits both
// contact.privacyDeletion and contact.deletion, in no fixed order (the
// simulator picks one at random each time). idProperty "email" names the
// contact by email; an email no contact has is blocklisted and answered
// 204 all the same, as HubSpot does. Only contacts have this endpoint.
func hGDPRDelete(c *reqCtx) (int, any) {
	t, e := c.objType()
	if e != nil {
		return errResult(e)
	}
	if t != "contacts" {
		return errResult(validationErr(fmt.Sprintf("GDPR deletion is only available for contacts, not %s", t)))
	}
	if e := c.requireObjectScope(t, true); e != nil {
		return errResult(e)
	}
	var in struct {
		ObjectID   string `json:"objectId"`
		IDProperty string `json:"idProperty"`
	}
	if e := c.decode(&in); e != nil {
		return errResult(e)
	}
	switch {
	case strings.TrimSpace(in.ObjectID) == "":
		return errResult(validationErr("objectId is required: the contact's ID, or its email with idProperty \"email\""))
	case in.IDProperty != "" && in.IDProperty != "email" && in.IDProperty != "hs_object_id":
		return errResult(validationErr(fmt.Sprintf("idProperty must be \"email\" (or omitted for a contact ID), got %q", in.IDProperty)))
	}
	o := c.p.lookup(t, in.ObjectID, in.IDProperty)
	if o == nil {
		if in.IDProperty == "email" {
			c.p.gdprBlocked(strings.ToLower(in.ObjectID))
			return http.StatusNoContent, nil
		}
		return errResult(objNotFound(t, in.ObjectID))
	}
	c.s.gdprDelete(c.p, o, c.w)
	return http.StatusNoContent, nil
}

// gdprBlocked notes an email HubSpot blocklisted (a GDPR deletion of an
// email no contact had).
func (p *Portal) gdprBlocked(email string) {
	if p.blocked == nil {
		p.blocked = map[string]bool{}
	}
	p.blocked[email] = true
}

// gdprDelete deletes a contact for good and records its two changes. The
// caller holds s.mu.
func (s *Simulator) gdprDelete(p *Portal, o *object, w writer) {
	now := s.now()
	const objType = "contacts"
	for e := range p.assocs {
		if (e.fromType == objType && e.fromID == o.id) || (e.toType == objType && e.toID == o.id) {
			delete(p.assocs, e)
		}
	}
	for _, l := range p.lists {
		delete(l.members, o.id)
	}
	delete(p.objects[objType].byID, o.id)
	changes := []Change{
		{PortalID: p.ID, ObjectType: "contact", ObjectTypeID: objectTypeIDs[objType], Kind: ChangePrivacyDeletion,
			ObjectID: o.id, OccurredAt: now, ChangeSource: w.source, SourceAppID: w.appID},
		{PortalID: p.ID, ObjectType: "contact", ObjectTypeID: objectTypeIDs[objType], Kind: ChangeDeletion,
			ObjectID: o.id, OccurredAt: now, ChangeSource: w.source, SourceAppID: w.appID},
	}
	if rand.IntN(2) == 0 {
		changes[0], changes[1] = changes[1], changes[0]
	}
	for _, ch := range changes {
		s.record(ch)
	}
}

// GDPRDeleteContact deletes a contact for privacy as a person in HubSpot
// would (Settings > Privacy: permanently delete), emitting the same events
// as the API.
func (s *Simulator) GDPRDeleteContact(portalID int64, id string) error {
	return s.onObject(portalID, "contacts", id, func(p *Portal, _ string, o *object) error {
		s.gdprDelete(p, o, uiWriter)
		return nil
	})
}

// GDPRBlocked tells whether a GDPR deletion blocklisted the email.
func (s *Simulator) GDPRBlocked(portalID int64, email string) bool {
	blocked := false
	s.locked(func() {
		if p := s.portals[portalID]; p != nil {
			blocked = p.blocked[strings.ToLower(email)]
		}
	})
	return blocked
}

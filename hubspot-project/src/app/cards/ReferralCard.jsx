// referflow's referral card on HubSpot contact, deal and company records.
//
// The card asks your referflow (referflow.json: baseUrl, which must also be
// in app-hsmeta.json's permittedUrls.fetch) what it knows of the record:
// GET {baseUrl}{cardPath}?associatedObjectType=…&associatedObjectId=…
// HubSpot appends portalId, userId, userEmail and appId and signs the
// request; referflow checks the signature and answers for the portal's
// workspace. Approve and Deny POST {baseUrl}{actionPath} on the same record:
// the referral's set-status decision, recorded as the HubSpot user. A
// refusal (already approved, a denial without a reason, held by the fraud
// checks) comes back as { error: { message } } and is shown as it is.
import React, { useCallback, useEffect, useState } from "react";
import {
  Alert,
  Button,
  DescriptionList,
  DescriptionListItem,
  Divider,
  EmptyState,
  Flex,
  Link,
  LoadingSpinner,
  Tag,
  Text,
  TextArea,
  hubspot,
  useExtensionContext,
} from "@hubspot/ui-extensions";

import referflow from "./referflow.json";

hubspot.extend(() => <ReferralCard />);

// recordUrl is an endpoint of referflow for the record the card is on.
function recordUrl(path, crm) {
  return (
    referflow.baseUrl +
    path +
    "?associatedObjectType=" +
    encodeURIComponent(crm.objectTypeId) +
    "&associatedObjectId=" +
    encodeURIComponent(String(crm.objectId))
  );
}

// call sends one request through hubspot.fetch and returns referflow's JSON,
// or throws with referflow's message.
async function call(url, options) {
  const response = await hubspot.fetch(url, { timeout: referflow.timeoutMs, ...options });
  let body = {};
  try {
    body = await response.json();
  } catch (e) {
    body = {};
  }
  if (!response.ok) {
    const message = body && body.error && body.error.message;
    throw new Error(message || "referflow answered " + response.status);
  }
  return body;
}

const statusVariants = { pending: "default", qualified: "info", approved: "success", denied: "error" };

function formatDate(iso) {
  return iso ? new Date(iso).toLocaleDateString() : "";
}

const ReferralCard = () => {
  const context = useExtensionContext();
  const crm = context.crm;
  const [card, setCard] = useState(null);
  const [error, setError] = useState("");
  const [notice, setNotice] = useState("");

  const load = useCallback(() => {
    setError("");
    call(recordUrl(referflow.cardPath, crm), { method: "GET" })
      .then(setCard)
      .catch((e) => setError(e.message));
  }, [crm.objectId, crm.objectTypeId]);

  useEffect(load, [load]);

  const decide = useCallback(
    async (referralId, status, reason) => {
      setError("");
      setNotice("");
      try {
        const next = await call(recordUrl(referflow.actionPath, crm), {
          method: "POST",
          body: { referral_id: referralId, status, reason },
        });
        setCard(next);
        setNotice(next.message || "");
      } catch (e) {
        setError(e.message);
      }
    },
    [crm.objectId, crm.objectTypeId]
  );

  if (!card && !error) {
    return <LoadingSpinner label="Asking referflow…" />;
  }
  return (
    <Flex direction="column" gap="small">
      {error && (
        <Alert title="referflow" variant="error">
          {error}
        </Alert>
      )}
      {notice && (
        <Alert title="Done" variant="success">
          {notice}
        </Alert>
      )}
      {card && <CardBody card={card} decide={decide} />}
      {card && card.truncated && (
        <Text variant="microcopy">Showing the newest; open referflow for the rest.</Text>
      )}
      {!card && <Button onClick={load}>Try again</Button>}
    </Flex>
  );
};

const CardBody = ({ card, decide }) => {
  if (card.referrals.length === 0 && card.members.length === 0) {
    return (
      <EmptyState title="No referral" layout="vertical" reverseOrder={true}>
        <Text>{card.summary}</Text>
      </EmptyState>
    );
  }
  return (
    <Flex direction="column" gap="small">
      <Text format={{ fontWeight: "bold" }}>{card.summary}</Text>
      {card.object_type === "company" && card.referrals.length > 0 && (
        <Text variant="microcopy">Referrals whose lead referflow linked to this company.</Text>
      )}
      {card.referrals.map((r) => (
        <Referral key={r.id} referral={r} decide={decide} />
      ))}
      {card.members.map((m) => (
        <Member key={m.id} member={m} />
      ))}
    </Flex>
  );
};

const Referral = ({ referral, decide }) => {
  const [reason, setReason] = useState("");
  const [busy, setBusy] = useState(false);
  const act = async (status) => {
    setBusy(true);
    await decide(referral.id, status, reason);
    setBusy(false);
  };
  return (
    <Flex direction="column" gap="extra-small">
      <Divider />
      <Flex direction="row" gap="small" wrap="wrap">
        <Tag variant={statusVariants[referral.status] || "default"}>{referral.status}</Tag>
        {referral.in_review && <Tag variant="warning">in review</Tag>}
      </Flex>
      <DescriptionList direction="column">
        <DescriptionListItem label="Referred by">
          <Text>
            {(referral.member.name || referral.member.email) + " (" + referral.member.code + ")"}
          </Text>
        </DescriptionListItem>
        <DescriptionListItem label="Lead">
          <Text>{referral.lead.name ? referral.lead.name + " · " + referral.lead.email : referral.lead.email}</Text>
        </DescriptionListItem>
        <DescriptionListItem label="Campaign">
          <Text>{referral.campaign_name}</Text>
        </DescriptionListItem>
        {referral.hold_until && (
          <DescriptionListItem label="Reward held until">
            <Text>{formatDate(referral.hold_until)}</Text>
          </DescriptionListItem>
        )}
        {referral.rewards.length > 0 && (
          <DescriptionListItem label="Rewards">
            {referral.rewards.map((w, i) => (
              <Text key={i}>
                {w.amount + " " + w.currency + " to the " + w.recipient + " · " + w.status}
              </Text>
            ))}
          </DescriptionListItem>
        )}
        {referral.denied_reason && (
          <DescriptionListItem label="Denied because">
            <Text>{referral.denied_reason}</Text>
          </DescriptionListItem>
        )}
      </DescriptionList>
      {referral.fraud_flags.length > 0 && (
        <Alert title="Fraud checks" variant="warning">
          {referral.fraud_flags.map((f) => f.reason + (f.detail ? ": " + f.detail : "")).join("; ")}
        </Alert>
      )}
      {referral.waiting && <Text variant="microcopy">{"Waiting: " + referral.waiting}</Text>}
      {referral.can_deny && (
        <TextArea
          label="Reason (needed to deny)"
          name={"reason-" + referral.id}
          value={reason}
          maxLength={1000}
          onChange={setReason}
        />
      )}
      <Flex direction="row" gap="small">
        {referral.can_approve && (
          <Button variant="primary" disabled={busy} onClick={() => act("approved")}>
            Approve
          </Button>
        )}
        {referral.can_deny && (
          <Button variant="destructive" disabled={busy} onClick={() => act("denied")}>
            Deny
          </Button>
        )}
        <Link href={{ url: referral.admin_url, external: true }}>Open in referflow</Link>
      </Flex>
    </Flex>
  );
};

const Member = ({ member }) => (
  <Flex direction="column" gap="extra-small">
    <Divider />
    <Text format={{ fontWeight: "bold" }}>{"Member of " + member.campaign_name}</Text>
    <DescriptionList direction="column">
      <DescriptionListItem label="Referral link">
        <Link href={{ url: member.link, external: true }}>{member.link}</Link>
      </DescriptionListItem>
      <DescriptionListItem label="Code">
        <Text>{member.code}</Text>
      </DescriptionListItem>
      <DescriptionListItem label="Referrals">
        <Text>{member.referral_count + " referred · " + member.converted_referral_count + " converted"}</Text>
      </DescriptionListItem>
    </DescriptionList>
    <Link href={{ url: member.admin_url, external: true }}>Open in referflow</Link>
  </Flex>
);

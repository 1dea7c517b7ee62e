-- 0032: the referral list searched by a lead's email across the workspace
-- (ReferralListOfLeadFiltered) read the whole workspace's list for the
-- lead's few rows: 169 ms a page with 100,000 referrals in the workspace
-- (docs/benchmarks.md, "Admin lists"). With this index it reads those rows.
CREATE INDEX referrals_workspace_lead_email_idx ON referrals (workspace_id, lead_email_normalized);

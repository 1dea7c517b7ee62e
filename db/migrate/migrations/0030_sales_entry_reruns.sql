-- 0030: an admin can edit a sales entry's payload and run it through the
-- Sales Receiver again (salesreceiver.Rerun). The re-run is a new entry,
-- recorded and dispatched like any other; rerun_of links it to the entry it
-- re-ran, which is never rewritten (its page says "re-run as #N").
ALTER TABLE sales_entries
    ADD COLUMN rerun_of bigint REFERENCES sales_entries (id) ON DELETE SET NULL;
COMMENT ON COLUMN sales_entries.rerun_of IS
    'The entry an admin edited and re-ran as this one (NULL for what HubSpot sent).';

CREATE INDEX sales_entries_rerun_of_idx ON sales_entries (rerun_of) WHERE rerun_of IS NOT NULL;

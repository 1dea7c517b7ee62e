-- 0033: per-person keys for personal data inside Temporal's histories
-- (internal/personaldata). Each person (a normalized email) has an AES-256 key,
-- sealed with REFERFLOW_ENCRYPTION_KEY; the payload codec encrypts that
-- person's fields with it. Erasing the person deletes the key and keeps the
-- row as a tombstone, so nothing about them is ever sealed under a new key:
-- their data in every history becomes unreadable for good.
CREATE TABLE person_keys (
    -- subject is a keyed hash of the normalized email (never the email):
    -- HMAC-SHA256 under person_key_settings' pepper.
    subject text PRIMARY KEY,
    sealed_key bytea,
    created_at timestamptz NOT NULL DEFAULT now(),
    erased_at timestamptz,
    CONSTRAINT person_keys_key_or_erased CHECK ((sealed_key IS NULL) = (erased_at IS NOT NULL))
);

-- The pepper of person_keys.subject: random, made once per install, sealed
-- with REFERFLOW_ENCRYPTION_KEY. A hash of an email without it could be
-- reversed by hashing guessed emails.
CREATE TABLE person_key_settings (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    sealed_pepper bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

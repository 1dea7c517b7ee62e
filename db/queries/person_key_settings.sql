-- name: PersonKeySettingsGet :one
-- PersonKeySettingsGet reads the install's pepper of person subjects.
SELECT * FROM person_key_settings WHERE id;

-- name: PersonKeySettingsCreate :one
-- PersonKeySettingsCreate stores the pepper the first time, or returns the
-- one another process stored first.
INSERT INTO person_key_settings AS s (sealed_pepper)
VALUES ($1)
ON CONFLICT (id) DO UPDATE SET id = s.id
RETURNING *;

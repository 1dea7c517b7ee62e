package migrate

// ParseMigrations exposes the migration loader to the external tests, so
// they can feed it broken file sets without embedding them.
var ParseMigrations = parseMigrations

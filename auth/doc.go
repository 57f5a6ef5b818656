// Package auth is the service's identity: users, passwords, access and
// refresh tokens, one-time codes, devices and login activity. It owns its SQL
// (sql/migrations/0004_auth.sql) and imports nothing else of the service: an
// account elsewhere is a plain user id.
//
// Passwords are argon2id in PHC form (parameters encoded in the hash, rehashed
// at login when they change); Django pbkdf2_sha256 and pbkdf2_sha512 hashes of
// imported users verify too and are upgraded at the next login. Hashing is
// bounded to a few at a time so that a storm of log-ins cannot exhaust the
// machine.
//
// A log-in yields an access token (a JWT signed with HS256 under a key derived
// from SECRET_KEY, checked with the method fixed, exp required, issuer and
// audience checked) and an opaque refresh token, stored only as a keyed hash
// in a family: one family per log-in, with an absolute lifetime. Every refresh
// spends its token and issues the next; presenting a spent token revokes the
// whole family.
//
// Customers must sign in from a device an admin has approved: a device first
// seen at log-in is recorded PENDING and refused with its status. Admins are
// exempt. CheckDeviceTx lets a posting transaction refuse a device rejected or
// revoked after its access token was issued.
//
// Whatever must tell someone about a change (an email, a notification) is an
// Event, given to Config.EventFunc inside the transaction of the change,
// so it exists if and only if the change committed.
package auth

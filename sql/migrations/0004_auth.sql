-- +goose Up
-- Identity (package auth; see auth/doc.go): users, devices, login activity,
-- log-in throttling, one-time codes, password-reset tokens and refresh-token
-- families. Secrets are never stored: passwords as argon2id (or imported
-- Django PBKDF2) hashes, codes and tokens as HMAC-SHA256 under a key derived
-- from SECRET_KEY.

CREATE TABLE users (
    id             bigserial PRIMARY KEY,
    -- New usernames match ^[A-Za-z0-9_.-]{3,150}$ (checked by auth); imported
    -- Django usernames may also hold @ and +, so the database only bounds it.
    username       text NOT NULL CONSTRAINT users_username_check CHECK (length(username) BETWEEN 1 AND 150),
    email          text NOT NULL CONSTRAINT users_email_check CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
    password_hash  text NOT NULL,
    first_name     text NOT NULL DEFAULT '' CONSTRAINT users_first_name_check CHECK (length(first_name) <= 150),
    last_name      text NOT NULL DEFAULT '' CONSTRAINT users_last_name_check CHECK (length(last_name) <= 150),
    language       text NOT NULL DEFAULT 'en' CONSTRAINT users_language_check CHECK (language IN ('en', 'rw')),
    role           text NOT NULL DEFAULT 'customer' CONSTRAINT users_role_check CHECK (role IN ('customer', 'admin', 'auditor')),
    is_active      boolean NOT NULL DEFAULT true,
    is_superuser   boolean NOT NULL DEFAULT false,
    email_verified boolean NOT NULL DEFAULT false,
    date_joined    timestamptz NOT NULL,
    last_login     timestamptz,
    deleted_at     timestamptz
);
-- Usernames are unique case-insensitively; emails are stored lower-cased.
-- Soft-deleted users keep theirs reserved.
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
CREATE UNIQUE INDEX users_email_key ON users (email);
-- The admin user list sorts by these.
CREATE INDEX users_date_joined_idx ON users (date_joined DESC, id DESC);

COMMENT ON COLUMN users.password_hash IS 'PHC argon2id string ($argon2id$v=19$m=…,t=…,p=…$salt$hash) or an imported Django pbkdf2_sha256/pbkdf2_sha512 hash, upgraded at the next login.';
COMMENT ON COLUMN users.deleted_at IS 'Soft delete: the account is closed (and inactive); its ledger history stays.';

-- Devices: the browsers and phones a user signs in from. A customer's device
-- must be APPROVED by an admin before it can be used.
CREATE TABLE devices (
    id           bigserial PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id),
    device_id    text NOT NULL CONSTRAINT devices_device_id_check CHECK (length(device_id) BETWEEN 1 AND 255),
    name         text NOT NULL DEFAULT '' CONSTRAINT devices_name_check CHECK (length(name) <= 100),
    status       text NOT NULL DEFAULT 'PENDING'
                 CONSTRAINT devices_status_check CHECK (status IN ('PENDING', 'APPROVED', 'REJECTED', 'REVOKED')),
    created_at   timestamptz NOT NULL,
    verified_at  timestamptz,
    verified_by  bigint REFERENCES users (id),
    last_seen_at timestamptz,
    last_ip      inet,
    user_agent   text NOT NULL DEFAULT '',
    CONSTRAINT devices_user_device_key UNIQUE (user_id, device_id)
);
-- The admin list, all devices or by status, newest first.
CREATE INDEX devices_created_idx ON devices (created_at DESC, id DESC);
CREATE INDEX devices_status_created_idx ON devices (status, created_at DESC, id DESC);

-- Login activity: one row per log-in attempt, successful or not.
CREATE TABLE login_activity (
    id         bigserial PRIMARY KEY,
    user_id    bigint REFERENCES users (id),
    username   text NOT NULL,
    email      text NOT NULL DEFAULT '',
    device_id  text NOT NULL DEFAULT '',
    ip_address inet,
    user_agent text NOT NULL DEFAULT '',
    success    boolean NOT NULL,
    reason     text NOT NULL,
    message    text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX login_activity_created_idx ON login_activity (created_at DESC, id DESC);
CREATE INDEX login_activity_user_idx ON login_activity (user_id, created_at DESC, id DESC);

COMMENT ON COLUMN login_activity.username IS 'The account''s username, or the identifier as typed when no account matched.';
COMMENT ON COLUMN login_activity.reason IS 'ok, unknown_user, wrong_password, inactive, locked, device_id_required, too_many_devices, device_pending, device_rejected, device_revoked.';

-- Log-in throttling: consecutive failures and the lock they caused, per
-- account ("user:<id>") or, for identifiers that match no account, per
-- keyed hash of the identifier, so that unknown names lock exactly like
-- real ones and the lock-out reveals nothing.
CREATE TABLE login_throttle (
    key            text PRIMARY KEY,
    failures       integer NOT NULL CONSTRAINT login_throttle_failures_check CHECK (failures >= 0),
    locked_until   timestamptz,
    last_failed_at timestamptz NOT NULL
);
CREATE INDEX login_throttle_last_failed_idx ON login_throttle (last_failed_at);

-- One-time codes sent by email: 6 digits, stored as keyed hashes. At most
-- one live code per user and purpose.
CREATE TABLE otp_codes (
    id          bigserial PRIMARY KEY,
    user_id     bigint NOT NULL REFERENCES users (id),
    purpose     text NOT NULL CONSTRAINT otp_codes_purpose_check CHECK (purpose IN ('verify_email', 'password_reset')),
    code_hash   bytea NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    attempts    integer NOT NULL DEFAULT 0,
    used_at     timestamptz,
    replaced_at timestamptz
);
CREATE UNIQUE INDEX otp_codes_live_key ON otp_codes (user_id, purpose) WHERE used_at IS NULL AND replaced_at IS NULL;
CREATE INDEX otp_codes_user_created_idx ON otp_codes (user_id, created_at DESC);

-- Password-reset tokens, given for a verified password_reset code: single
-- use, short-lived, stored as keyed hashes.
CREATE TABLE password_reset_tokens (
    id         bigserial PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id),
    token_hash bytea NOT NULL CONSTRAINT password_reset_tokens_hash_key UNIQUE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX password_reset_tokens_user_idx ON password_reset_tokens (user_id);

-- Refresh-token families: one per log-in, with an absolute lifetime. Revoking
-- the family ends the log-in (logout, reuse of a spent token, password
-- change, deactivation, device rejection or revocation).
CREATE TABLE refresh_families (
    id            bigserial PRIMARY KEY,
    user_id       bigint NOT NULL REFERENCES users (id),
    device_id     bigint REFERENCES devices (id),
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz,
    revoke_reason text
);
CREATE INDEX refresh_families_user_idx ON refresh_families (user_id) WHERE revoked_at IS NULL;
CREATE INDEX refresh_families_device_idx ON refresh_families (device_id) WHERE revoked_at IS NULL;

COMMENT ON COLUMN refresh_families.device_id IS 'The device the log-in was approved for; NULL for admins, who are exempt from device approval.';

-- Refresh tokens: opaque random strings stored as keyed hashes. Each refresh
-- spends its token (used_at) and issues a child in the same family. A token
-- is dead when it is spent, expired, revoked itself (the one presented at
-- logout) or its family is revoked.
CREATE TABLE refresh_tokens (
    id         bigserial PRIMARY KEY,
    family_id  bigint NOT NULL REFERENCES refresh_families (id),
    parent_id  bigint REFERENCES refresh_tokens (id),
    user_id    bigint NOT NULL REFERENCES users (id),
    device_id  bigint REFERENCES devices (id),
    token_hash bytea NOT NULL CONSTRAINT refresh_tokens_hash_key UNIQUE,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    revoked_at timestamptz
);
CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);

-- +goose Down
DROP TABLE IF EXISTS refresh_tokens;
DROP TABLE IF EXISTS refresh_families;
DROP TABLE IF EXISTS password_reset_tokens;
DROP TABLE IF EXISTS otp_codes;
DROP TABLE IF EXISTS login_throttle;
DROP TABLE IF EXISTS login_activity;
DROP TABLE IF EXISTS devices;
DROP TABLE IF EXISTS users;

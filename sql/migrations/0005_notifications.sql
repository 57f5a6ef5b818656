-- +goose Up
-- The user inbox. Every notification is written in the same transaction as
-- the event it reports (jobs.NotifyTx), so it exists if and only if the
-- event committed. dedup_key makes a repeated write (a retried fan-out job)
-- a no-op: at most one row per recipient and key.
CREATE TABLE notifications (
    id           bigserial PRIMARY KEY,
    recipient_id bigint NOT NULL REFERENCES users (id),
    notif_type   text NOT NULL CONSTRAINT notifications_type_check CHECK (notif_type IN (
                     'LOW_BALANCE', 'DEPOSIT_CONFIRMED', 'WITHDRAW_ALERT', 'DEVICE_EVENT', 'NEW_USER',
                     'USER_APPROVAL_REQUIRED', 'USER_BLOCKED', 'PASSWORD_RESET', 'ANNOUNCEMENT')),
    title        text NOT NULL CONSTRAINT notifications_title_check CHECK (length(title) BETWEEN 1 AND 200),
    message      text NOT NULL CONSTRAINT notifications_message_check CHECK (length(message) BETWEEN 1 AND 5000),
    meta         jsonb NOT NULL DEFAULT '{}' CONSTRAINT notifications_meta_check CHECK (jsonb_typeof(meta) = 'object'),
    read_at      timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    dedup_key    text
);

-- The inbox, newest first; the unread inbox and the unread count.
CREATE INDEX notifications_recipient_idx ON notifications (recipient_id, id DESC);
CREATE INDEX notifications_unread_idx ON notifications (recipient_id, id DESC) WHERE read_at IS NULL;
CREATE UNIQUE INDEX notifications_dedup_idx ON notifications (recipient_id, dedup_key) WHERE dedup_key IS NOT NULL;
-- Retention deletes read notifications by age.
CREATE INDEX notifications_read_created_idx ON notifications (created_at) WHERE read_at IS NOT NULL;

-- Admin announcements. The row is written with its fan-out job in one
-- transaction; the job delivers it to its recipients in batches by user id,
-- each batch its own transaction, and records its progress here so that a
-- retried job resumes where the last one stopped. Rows are kept as the
-- record of who announced what to whom.
CREATE TABLE announcements (
    id           bigserial PRIMARY KEY,
    created_by   bigint NOT NULL REFERENCES users (id),
    created_at   timestamptz NOT NULL,
    title        text NOT NULL CONSTRAINT announcements_title_check CHECK (length(title) BETWEEN 1 AND 200),
    message      text NOT NULL CONSTRAINT announcements_message_check CHECK (length(message) BETWEEN 1 AND 5000),
    -- NULL: every active user.
    user_id      bigint REFERENCES users (id),
    send_email   boolean NOT NULL,
    -- Recipients counted when it was created (the 202's recipients).
    recipients   integer NOT NULL,
    -- Fan-out progress: users with an id up to last_user_id are done.
    last_user_id bigint NOT NULL DEFAULT 0,
    delivered    integer NOT NULL DEFAULT 0,
    emailed      integer NOT NULL DEFAULT 0,
    completed_at timestamptz
);
CREATE INDEX announcements_created_idx ON announcements (created_at DESC, id DESC);

COMMENT ON COLUMN announcements.delivered IS 'Notifications the fan-out wrote (a recipient already holding this announcement is not counted again).';
COMMENT ON COLUMN announcements.emailed IS 'Email jobs the fan-out inserted, one per delivered notification when send_email.';

-- +goose Down
DROP TABLE announcements;
DROP TABLE notifications;

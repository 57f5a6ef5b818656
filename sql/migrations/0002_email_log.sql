-- +goose Up
-- email_log records what became of every email job: one row per River job,
-- updated at each attempt. It never holds a secret (codes are sealed in the
-- job's arguments and opened only to render) nor the rendered body.
CREATE TABLE email_log (
    id          bigserial   PRIMARY KEY,
    job_id      bigint,
    recipient   text        NOT NULL,
    template    text        NOT NULL,
    language    text        NOT NULL,
    subject     text        NOT NULL DEFAULT '',
    message_id  text        NOT NULL DEFAULT '',
    status      text        NOT NULL,
    attempts    integer     NOT NULL DEFAULT 0,
    error       text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz,
    -- A UNIQUE constraint lets any number of rows have no job (NULL).
    CONSTRAINT email_log_job_id_key UNIQUE (job_id),
    CONSTRAINT email_log_status_check CHECK (status IN ('sent', 'retrying', 'failed', 'logged')),
    CONSTRAINT email_log_attempts_check CHECK (attempts >= 0)
);

COMMENT ON TABLE email_log IS 'One row per email job: outcome of its latest attempt. No secrets, no bodies.';
COMMENT ON COLUMN email_log.job_id IS 'river_job.id; NULL for an email sent outside River.';
COMMENT ON COLUMN email_log.sent_at IS 'When the email was first accepted (or logged); kept if a later repeat of the job fails.';
COMMENT ON COLUMN email_log.status IS 'sent: accepted by SMTP; logged: written by the console backend; retrying: a transient failure, River retries; failed: permanent failure or attempts exhausted.';

-- Listing, newest first (the admin view and the dev preview).
CREATE INDEX email_log_created_at_idx ON email_log (created_at DESC, id DESC);
-- What was sent to one address, newest first.
CREATE INDEX email_log_recipient_idx ON email_log (lower(recipient), created_at DESC);

-- +goose Down
DROP TABLE IF EXISTS email_log;

// Package jobs holds the service's background work on River: the job
// arguments, the workers and what they need — for now the email worker, the
// mailer (SMTP through go-mail, or a console backend for development) and the
// sealing of secrets that travel in job arguments.
//
// Delivery is at least once. Each email carries a Message-ID fixed by its job
// so that a rare repeat (a crash between the SMTP server's acceptance and the
// job's completion) is recognisable, and every attempt is recorded in
// email_log, which never holds a secret or a rendered body.
//
// AddWorkers registers the workers; RescueStuckJobsAfter and ClientJobTimeout
// are the River client settings they are tuned for.
package jobs

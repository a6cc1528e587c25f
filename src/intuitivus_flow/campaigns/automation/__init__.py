"""The campaign automation: ordered steps with stable ids, run per contact on the job queue."""

"""Output formats; each reads finished SubmissionReports only."""

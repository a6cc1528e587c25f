"""Performance analysis: from what the instance collects to ranked, evidenced recommendations."""

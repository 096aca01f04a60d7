//! cluster-tests: placeholder, filled in by its issue.

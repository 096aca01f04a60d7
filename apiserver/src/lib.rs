//! apiserver: placeholder, filled in by its issue.

//! raft-node: placeholder, filled in by its issue.

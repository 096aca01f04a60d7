//! The watch hub: every committed revision's changes go to the watchers whose range they
//! touch, without ever blocking the apply loop.
//!
//! A watcher is *synced* when it has everything up to the last notified revision; notify
//! hands it the new revision's events (all of one revision in one message) through its
//! stream's bounded channel. If the channel is full, or the watcher starts in the past, it
//! is *unsynced*: a catch-up task replays the history from the store and hands it back to
//! the synced set once it has reached the last notified revision, checked under the hub lock
//! so no revision is delivered twice or skipped.

mod hub;

pub use hub::{StreamMsg, WatchHub, WatchSpec};

//! Provider keys (filled by the key-selection issue).

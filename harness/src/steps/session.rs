//! Steps of `session.feature` (to be written).

//! Steps of `connections.feature` (to be written).

//! Steps of `passthrough.feature` (to be written).

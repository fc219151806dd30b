//! Steps of `audience.feature` (to be written).

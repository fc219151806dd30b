//! Steps of `expiry.feature` (to be written).

//! Steps of `revocation.feature` (to be written).

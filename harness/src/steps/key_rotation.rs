//! Steps of `key_rotation.feature` (to be written).
